"""Attention-only mode and retention: a small key/value ``app_settings`` table (the admin's
switches: emotions on/off, days to keep observations), ``class_sessions.emotions`` (the mode a
session ran in; NULL for sessions recorded before this revision, which all had emotions), and
the observations' emotion columns become nullable (NULL when a session ran without emotions).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

EMOTION_FLOATS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "confusion")


def upgrade() -> None:
    op.create_table(
        "app_settings",
        sa.Column("key", sa.String(length=100), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    with op.batch_alter_table("class_sessions") as batch:
        batch.add_column(sa.Column("emotions", sa.Boolean(), nullable=True))
    with op.batch_alter_table("observations") as batch:
        for name in EMOTION_FLOATS:
            batch.alter_column(name, existing_type=sa.Float(), nullable=True)
        batch.alter_column("emotion", existing_type=sa.String(length=16), nullable=True)


def downgrade() -> None:
    # Observations recorded without emotions cannot satisfy NOT NULL again: they are dropped.
    op.execute("DELETE FROM observations WHERE emotion IS NULL")
    with op.batch_alter_table("observations") as batch:
        batch.alter_column("emotion", existing_type=sa.String(length=16), nullable=False)
        for name in EMOTION_FLOATS:
            batch.alter_column(name, existing_type=sa.Float(), nullable=False)
    with op.batch_alter_table("class_sessions") as batch:
        batch.drop_column("emotions")
    op.drop_table("app_settings")
