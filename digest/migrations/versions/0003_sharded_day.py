"""the sharded day: packed digest items, claim owners, stored embeddings

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import json
import zlib

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("after_batch_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("owner", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("items", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("profiles") as batch:
        batch.add_column(sa.Column("vector_model", sa.String(length=40), nullable=True))
    op.create_table(
        "embeddings",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("model", sa.String(length=40), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_embeddings")),
    )
    # a digest's items move into one packed value on its ledger row
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT delivery_id, profile, paper_id, score, why FROM digest_items"
            " ORDER BY delivery_id, position"
        )
    ).all()
    packed: dict[int, list[list[object]]] = {}
    for delivery_id, profile, paper_id, score, why in rows:
        packed.setdefault(delivery_id, []).append([profile, paper_id, score, why])
    if packed:
        conn.execute(
            sa.text("UPDATE deliveries SET items = :items WHERE id = :id"),
            [{"id": k, "items": zlib.compress(json.dumps(v).encode())} for k, v in packed.items()],
        )
    op.drop_table("digest_items")
    # profile vectors of an earlier layout are rebuilt on first use
    conn.execute(sa.text("UPDATE profiles SET vector = NULL"))


def downgrade() -> None:
    raise NotImplementedError("the sharded day's ledger cannot be unpacked")
