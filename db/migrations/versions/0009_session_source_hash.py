"""A recording's content hash on its session (``class_sessions.source_sha256``, SHA-256 of the
file's bytes, indexed): the dashboard warns when the same recording was already analysed. NULL
for live sources, folders of pictures and every session made before this revision.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch copy of class_sessions, which other tables reference).
    op.add_column("class_sessions", sa.Column("source_sha256", sa.String(length=64), nullable=True))
    op.create_index("ix_class_sessions_source_sha256", "class_sessions", ["source_sha256"])


def downgrade() -> None:
    op.drop_index("ix_class_sessions_source_sha256", table_name="class_sessions")
    op.drop_column("class_sessions", "source_sha256")  # SQLite 3.35+ drops a plain column in place
