"""title fingerprints that ignore spacing; links without tracking parameters

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from digest.identity import canonical_url, title_fingerprint

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_papers = sa.table(
    "papers",
    sa.column("pk", sa.Integer),
    sa.column("title", sa.Text),
    sa.column("url", sa.Text),
    sa.column("fingerprint", sa.String),
)


def upgrade() -> None:
    """Stored papers get the fingerprint and link new papers are compared with, so a
    paper stored before this version still merges with its twin from another source."""
    conn = op.get_bind()
    last = 0
    while True:
        rows = conn.execute(
            sa.select(_papers.c.pk, _papers.c.title, _papers.c.url)
            .where(_papers.c.pk > last)
            .order_by(_papers.c.pk)
            .limit(2000)
        ).all()
        if not rows:
            return
        last = rows[-1][0]
        conn.execute(
            sa.update(_papers)
            .where(_papers.c.pk == sa.bindparam("key"))
            .values(fingerprint=sa.bindparam("print"), url=sa.bindparam("link")),
            [
                {"key": pk, "print": title_fingerprint(title), "link": canonical_url(url)}
                for pk, title, url in rows
            ],
        )


def downgrade() -> None:
    """The schema is the same; the values stay as they are."""
