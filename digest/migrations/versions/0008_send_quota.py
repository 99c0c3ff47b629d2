"""sending rate limits shared by every worker

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "send_quota",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("window", sa.DateTime(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_send_quota")),
    )


def downgrade() -> None:
    op.drop_table("send_quota")
