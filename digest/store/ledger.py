"""The send ledger: one row per (subscriber, day), pending → sending → sent / failed.

The day's plan writes every due row at once and advances each reader's
``last_batch_id`` in the same transaction, so a paper is never decided twice; a row
keeps the batch range its papers come from. Shards claim and finish rows through
``claims.py``; a finished row keeps what its reader got (the digest's items, packed).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row

from digest.store.base import StoreBase
from digest.tables import deliveries, subscribers

PENDING, SENDING, SENT, FAILED, DEFERRED, EMPTY = (
    "pending",
    "sending",
    "sent",
    "failed",
    "deferred",
    "empty",
)
FEED_ONLY = "feed"  # decided for a reader who takes RSS only: nothing to send
CANCELLED = "cancelled"  # the reader unsubscribed between planning and sending
OWED = (PENDING, DEFERRED)
_CHUNK = 900  # bound parameters per IN (...), well inside SQLite's limit


@dataclass(frozen=True, slots=True)
class Item:
    profile: str
    paper_id: str
    score: float
    why: str


@dataclass(frozen=True, slots=True)
class Due:
    """A digest the plan found due: its reader, their local day, and the batches its
    papers come from (after ``after_batch_id``, up to ``batch_id``)."""

    subscriber_id: int
    day: date
    after_batch_id: int | None
    batch_id: int


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    subscriber_id: int
    day: date
    status: str
    attempts: int
    error: str | None
    message_id: str | None
    batch_id: int | None
    sent_at: datetime | None
    after_batch_id: int | None = None
    owner: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Finished:
    """How a claimed row ended, as a shard reports it."""

    delivery_id: int
    status: str
    items: tuple[Item, ...] = ()
    message_id: str | None = None
    error: str | None = None
    note: str = ""


def pack_items(items: Sequence[Item], note: str = "") -> bytes:
    """A digest's items, and the note that said why it was empty or short, if any."""
    rows = [[i.profile, i.paper_id, i.score, i.why] for i in items]
    return zlib.compress(json.dumps({"items": rows, "note": note} if note else rows).encode(), 1)


def unpack(data: bytes | None) -> tuple[list[Item], str]:
    if not data:
        return [], ""
    found = json.loads(zlib.decompress(data))
    if isinstance(found, dict):
        return [Item(*row) for row in found["items"]], str(found.get("note") or "")
    return [Item(*row) for row in found], ""


def unpack_items(data: bytes | None) -> list[Item]:
    return unpack(data)[0]


def _delivery(row: Row[Any]) -> Delivery:
    m = row._mapping
    return Delivery(
        id=m["id"],
        subscriber_id=m["subscriber_id"],
        day=m["day"],
        status=m["status"],
        attempts=m["attempts"],
        error=m["error"],
        message_id=m["message_id"],
        batch_id=m["batch_id"],
        sent_at=m["sent_at"],
        after_batch_id=m["after_batch_id"],
        owner=m["owner"],
        updated_at=m["updated_at"],
    )


_COLUMNS = [c for c in deliveries.c if c.name != "items"]


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


class LedgerStore(StoreBase):
    def plan(self, due: Sequence[Due], *, now: datetime) -> list[int]:
        """Record due digests as pending, in bulk; rows already in the ledger (another
        process planned them) are left alone. Returns the new rows' ids, in order."""
        if not due:
            return []
        insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        statement = (
            insert(deliveries)
            .on_conflict_do_nothing(index_elements=["subscriber_id", "day"])
            .returning(deliveries.c.id, deliveries.c.subscriber_id, deliveries.c.batch_id)
        )
        rows = [
            {
                "subscriber_id": d.subscriber_id,
                "day": d.day,
                "status": PENDING,
                "attempts": 0,
                "batch_id": d.batch_id,
                "after_batch_id": d.after_batch_id,
                "created_at": now,
                "updated_at": now,
            }
            for d in due
        ]
        with self.engine.begin() as conn:
            made = [tuple(r) for r in conn.execute(statement, rows)]
            if made:
                conn.execute(
                    update(subscribers)
                    .where(subscribers.c.id == bindparam("sid"))
                    .values(last_batch_id=bindparam("batch")),
                    [{"sid": sid, "batch": batch} for _, sid, batch in made],
                )
        return sorted(i for i, _, _ in made)

    def batch_ranges(self, ids: Sequence[int]) -> list[tuple[int | None, int]]:
        """The distinct (after, up to) batch ranges of these rows' papers."""
        found: set[tuple[int | None, int]] = set()
        with self.engine.connect() as conn:
            for chunk in _chunks(ids):
                query = (
                    select(deliveries.c.after_batch_id, deliveries.c.batch_id)
                    .where(deliveries.c.id.in_(chunk), deliveries.c.batch_id.is_not(None))
                    .distinct()
                )
                found.update((a, b) for a, b in conn.execute(query))
        return sorted(found, key=lambda r: (r[0] or 0, r[1]))

    def received(self, subscriber_id: int, paper_id: str) -> bool:
        """Whether the paper was in one of the subscriber's recorded digests: the only
        papers a feedback link is ever made for."""
        query = select(deliveries.c["items"]).where(
            deliveries.c.subscriber_id == subscriber_id, deliveries.c["items"].is_not(None)
        )
        with self.engine.connect() as conn:
            for (packed,) in conn.execute(query):
                if any(i.paper_id == paper_id for i in unpack_items(packed)):
                    return True
        return False

    def owed_subscribers(self, ids: Sequence[int]) -> list[int]:
        found: set[int] = set()
        with self.engine.connect() as conn:
            for chunk in _chunks(ids):
                query = select(deliveries.c.subscriber_id).where(deliveries.c.id.in_(chunk))
                found.update(conn.execute(query).scalars())
        return sorted(found)

    def deliveries(
        self, *, day: date | None = None, subscriber_id: int | None = None
    ) -> list[Delivery]:
        query = select(*_COLUMNS).order_by(deliveries.c.day, deliveries.c.id)
        if day is not None:
            query = query.where(deliveries.c.day == day)
        if subscriber_id is not None:
            query = query.where(deliveries.c.subscriber_id == subscriber_id)
        with self.engine.connect() as conn:
            return [_delivery(r) for r in conn.execute(query)]

    def last_deliveries(self) -> dict[int, Delivery]:
        """Each subscriber's ledger row for their latest day, by subscriber id."""
        latest = (
            select(deliveries.c.subscriber_id, func.max(deliveries.c.day).label("day"))
            .group_by(deliveries.c.subscriber_id)
            .subquery()
        )
        query = select(*_COLUMNS).join(
            latest,
            and_(
                deliveries.c.subscriber_id == latest.c.subscriber_id,
                deliveries.c.day == latest.c.day,
            ),
        )
        with self.engine.connect() as conn:
            return {d.subscriber_id: d for d in map(_delivery, conn.execute(query))}

    def ledger(
        self, *, ids: Sequence[int] | None = None, day: date | None = None
    ) -> list[tuple[str, Delivery]]:
        """Ledger rows with their reader's address, by id: those of ``ids``, or all of
        ``day``."""
        query = select(subscribers.c.email, *_COLUMNS).join(
            subscribers, subscribers.c.id == deliveries.c.subscriber_id
        )
        if day is not None:
            query = query.where(deliveries.c.day == day)
        found: list[tuple[str, Delivery]] = []
        with self.engine.connect() as conn:
            if ids is None:
                found = [(r.email, _delivery(r)) for r in conn.execute(query)]
            for chunk in _chunks(ids or []):
                rows = conn.execute(query.where(deliveries.c.id.in_(chunk)))
                found += [(r.email, _delivery(r)) for r in rows]
        return sorted(found, key=lambda r: r[1].id)

    def delivery(self, delivery_id: int) -> Delivery | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(*_COLUMNS).where(deliveries.c.id == delivery_id)).first()
        return _delivery(row) if row else None

    def recent_deliveries(self, subscriber_id: int, limit: int) -> list[Delivery]:
        """The subscriber's last ``limit`` digests that have papers or a note, newest
        first."""
        query = (
            select(*_COLUMNS)
            .where(
                deliveries.c.subscriber_id == subscriber_id,
                deliveries.c["items"].is_not(None),
            )
            .order_by(deliveries.c.day.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_delivery(r) for r in conn.execute(query)]

    def items(self, delivery_ids: Iterable[int]) -> dict[int, list[Item]]:
        """What each digest held, as recorded when it was finished."""
        return {d: items for d, (items, _) in self.recorded(delivery_ids).items()}

    def recorded(self, delivery_ids: Iterable[int]) -> dict[int, tuple[list[Item], str]]:
        """What each digest held, and its note (why it was empty or short, or "")."""
        wanted = list(delivery_ids)
        found: dict[int, tuple[list[Item], str]] = {d: ([], "") for d in wanted}
        with self.engine.connect() as conn:
            for chunk in _chunks(wanted):
                query = select(deliveries.c.id, deliveries.c["items"]).where(
                    deliveries.c.id.in_(chunk)
                )
                for delivery_id, packed in conn.execute(query):
                    found[delivery_id] = unpack(packed)
        return found
