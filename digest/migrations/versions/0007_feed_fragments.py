"""personal feeds' fragments in the database, for installations on many machines

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feed_fragments",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("written_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_feed_fragments_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscriber_id", "day", name=op.f("pk_feed_fragments")),
    )
    op.create_index("ix_feed_fragments_day", "feed_fragments", ["day"])


def downgrade() -> None:
    op.drop_index("ix_feed_fragments_day", table_name="feed_fragments")
    op.drop_table("feed_fragments")
