"""papers: how arXiv announced them (new, cross, replace); cached profiles rebuilt

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("papers") as batch:
        batch.add_column(sa.Column("announce", sa.String(length=20), nullable=True))
    # a cached profile now also holds the papers its reader follows (seeds and likes),
    # who hear of their new versions: the day rebuilds each one it finds missing
    op.execute(sa.text("UPDATE profiles SET vector = NULL, vector_model = NULL"))


def downgrade() -> None:
    with op.batch_alter_table("papers") as batch:
        batch.drop_column("announce")
    op.execute(sa.text("UPDATE profiles SET vector = NULL, vector_model = NULL"))
