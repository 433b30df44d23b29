"""Sessions get a heartbeat: the engine stamps it with every batch it writes, so a session left
"running" by an engine that died can be told from one still at work.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("class_sessions") as batch:
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("class_sessions") as batch:
        batch.drop_column("heartbeat_at")
