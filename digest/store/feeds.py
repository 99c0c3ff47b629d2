"""Personal feeds' fragments kept in the database: one row per reader and digest day,
the digest's rendered feed items, so that every machine that runs shards writes them
where every machine that serves the web app reads them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from digest.store.base import StoreBase
from digest.tables import feed_fragments


class FeedStore(StoreBase):
    def put_fragments(self, rows: Sequence[tuple[int, date, bytes]], *, now: datetime) -> None:
        """Write (subscriber, day, items) fragments in one statement, replacing those
        written before for the same reader and day (a rerun)."""
        if not rows:
            return
        insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        statement = insert(feed_fragments)
        statement = statement.on_conflict_do_update(
            index_elements=["subscriber_id", "day"],
            set_={"body": statement.excluded.body, "written_at": statement.excluded.written_at},
        )
        values = [
            {"subscriber_id": sid, "day": day, "body": body, "written_at": now}
            for sid, day, body in rows
        ]
        with self.engine.begin() as conn:
            conn.execute(statement, values)

    def fragment_stamps(self, subscriber_id: int, limit: int) -> list[tuple[date, int, datetime]]:
        """The reader's last ``limit`` fragments, newest first, as (day, size, written):
        enough for a feed's validators without reading a fragment."""
        query = (
            select(
                feed_fragments.c.day,
                func.length(feed_fragments.c.body),
                feed_fragments.c.written_at,
            )
            .where(feed_fragments.c.subscriber_id == subscriber_id)
            .order_by(feed_fragments.c.day.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [(d, int(n), w) for d, n, w in conn.execute(query)]

    def fragments(self, subscriber_id: int, days: Iterable[date]) -> dict[date, bytes]:
        query = select(feed_fragments.c.day, feed_fragments.c.body).where(
            feed_fragments.c.subscriber_id == subscriber_id,
            feed_fragments.c.day.in_(list(days)),
        )
        with self.engine.connect() as conn:
            return {d: bytes(b) for d, b in conn.execute(query)}

    def prune_fragments(self, before: date) -> int:
        """Delete the fragments of days before ``before``; returns how many."""
        with self.engine.begin() as conn:
            done = conn.execute(delete(feed_fragments).where(feed_fragments.c.day < before))
        return int(done.rowcount)
