"""Course ownership: ``courses.owner_id`` (the teacher who created the course; NULL = the admins'
until reassigned, which is what every course made before this revision becomes) and
``course_shares`` (co-teachers who see a course's sessions too). Sessions without a course stay
visible to admins only. Course names stay unique across all teachers.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN ... REFERENCES, not a batch copy of the table: with foreign keys on, SQLite refuses to
    # drop (to recreate) "courses" while sessions reference it. PostgreSQL names the key courses_owner_id_fkey.
    # No ON DELETE (SQLite would not report it back): db.repository.delete_user clears a deleted
    # account's courses itself.
    op.add_column("courses", sa.Column("owner_id", sa.Integer(), sa.ForeignKey("users.id"),
                                       nullable=True), inline_references=True)
    op.create_index("ix_courses_owner_id", "courses", ["owner_id"])
    op.create_table(
        "course_shares",
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["course_id"], ["courses.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("course_id", "user_id"),
    )
    op.create_index("ix_course_shares_user_id", "course_shares", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_course_shares_user_id", table_name="course_shares")
    op.drop_table("course_shares")
    op.drop_index("ix_courses_owner_id", table_name="courses")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite drops a column that is a foreign key only by copying the table: foreign keys must be
        # off for that (PRAGMA foreign_keys=OFF on the connection) when sessions reference courses.
        with op.batch_alter_table("courses") as batch:
            batch.drop_column("owner_id")
    else:
        op.drop_column("courses", "owner_id")  # drops its foreign key with it
