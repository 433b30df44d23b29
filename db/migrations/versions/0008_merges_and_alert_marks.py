"""Undoable student merges (``student_merges``: what a merge moved, so that undo moves exactly that
back; the merged student's row stays, hidden from the roster while its merge stands) and teachers'
right/wrong marks on alerts (``alert_marks``: one per alert per account, with an optional note).
New tables only: no existing table is copied or changed.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "student_merges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("keep_id", sa.Integer(), nullable=False),
        sa.Column("merged_id", sa.Integer(), nullable=False),
        sa.Column("observation_ids", sa.JSON(), nullable=False),
        sa.Column("alert_ids", sa.JSON(), nullable=False),
        sa.Column("co_present_frames", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["class_sessions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["keep_id"], ["students.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["merged_id"], ["students.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("merged_id"),
    )
    op.create_index("ix_student_merges_session_id", "student_merges", ["session_id"])
    op.create_index("ix_student_merges_keep_id", "student_merges", ["keep_id"])
    op.create_table(
        "alert_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("right", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("alert_id", "user_id", name="uq_alert_marks_alert_user"),
    )
    op.create_index("ix_alert_marks_alert_id", "alert_marks", ["alert_id"])


def downgrade() -> None:
    op.drop_index("ix_alert_marks_alert_id", table_name="alert_marks")
    op.drop_table("alert_marks")
    op.drop_index("ix_student_merges_keep_id", table_name="student_merges")
    op.drop_index("ix_student_merges_session_id", table_name="student_merges")
    op.drop_table("student_merges")
