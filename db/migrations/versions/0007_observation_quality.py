"""Observation quality: each observation carries how good the evidence was (the detector's
confidence, blur, brightness and contrast of the face crop) and whether its reading passed the
engine's quality floor (``readable``; when not, ``unreadable_reason``). All nullable: rows
recorded before this revision have none of them and count as readable.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COLUMNS = (
    ("detector_score", sa.Float()),
    ("blur", sa.Float()),
    ("brightness", sa.Float()),
    ("contrast", sa.Float()),
    ("readable", sa.Boolean()),
    ("unreadable_reason", sa.String(length=16)),
)


def upgrade() -> None:
    # Plain ADD COLUMN (nullable, no default): no table copy on SQLite, a catalogue change on PostgreSQL.
    for name, type_ in COLUMNS:
        op.add_column("observations", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    # SQLite 3.35+ drops a column in place; the batch form copies the table only where it must.
    with op.batch_alter_table("observations") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
