"""The send ledger: one row per (subscriber, day), pending → sending → sent / failed.

The day's plan writes every due row at once and advances each reader's
``last_batch_id`` in the same transaction, so a paper is never decided twice; a row
keeps the batch range its papers come from. A shard then claims its rows in one
conditional UPDATE (so two processes never hold one row), and records what each
reader got (the digest's items, packed) when it finishes them. A claim names its owner
(host, process, start time): rows of an owner known to be dead are taken over at
once, others when the claim's lease has run out.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update
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


@dataclass(frozen=True, slots=True)
class Finished:
    """How a claimed row ended, as a shard reports it."""

    delivery_id: int
    status: str
    items: tuple[Item, ...] = ()
    message_id: str | None = None
    error: str | None = None


def pack_items(items: Sequence[Item]) -> bytes:
    return zlib.compress(
        json.dumps([[i.profile, i.paper_id, i.score, i.why] for i in items]).encode(), 1
    )


def unpack_items(data: bytes | None) -> list[Item]:
    if not data:
        return []
    return [Item(*row) for row in json.loads(zlib.decompress(data))]


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

    def owed(
        self,
        *,
        since: date,
        days: Iterable[date] = (),
        now: datetime,
        lease: timedelta,
        alive: Callable[[str], bool],
    ) -> list[int]:
        """Ids of rows still to be sent, of ``days`` or of any day from ``since``:
        pending, deferred, or claimed by an owner that is dead or whose lease ran out."""
        named = sorted(set(days))
        when: Any = deliveries.c.day >= since
        if named:
            when = or_(when, deliveries.c.day.in_(named))
        query = (
            select(
                deliveries.c.id, deliveries.c.status, deliveries.c.owner, deliveries.c.claimed_at
            )
            .where(when, deliveries.c.status.in_((*OWED, SENDING)))
            .order_by(deliveries.c.id)
        )
        stale = now - lease
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            i
            for i, status, owner, claimed in rows
            if status != SENDING or _takeable(owner, claimed, stale, alive)
        ]

    def claim(
        self,
        ids: Sequence[int],
        *,
        owner: str,
        now: datetime,
        lease: timedelta,
        alive: Callable[[str], bool],
    ) -> list[Delivery]:
        """Take the owed rows among ``ids`` for ``owner``, in one transaction; rows
        another live owner holds are left to it. Returns the rows taken, by id.

        The UPDATE states what makes a row takeable rather than which rows looked so,
        so that of two processes taking over the same stale row only the first does:
        the second finds it claimed just now. On PostgreSQL the rows are locked with
        ``FOR UPDATE SKIP LOCKED`` first, so a claim never waits for another one on
        the same rows; it leaves them to it."""
        stale = now - lease
        taken: list[Delivery] = []
        postgres = self.engine.dialect.name == "postgresql"
        with self.engine.begin() as conn:
            for chunk in _chunks(ids):
                held = conn.execute(
                    select(deliveries.c.owner)
                    .where(
                        deliveries.c.id.in_(chunk),
                        deliveries.c.status == SENDING,
                        deliveries.c.claimed_at >= stale,
                        deliveries.c.owner.is_not(None),
                    )
                    .distinct()
                ).scalars()
                dead = sorted(o for o in held if not alive(o))
                orphaned: Any = or_(
                    deliveries.c.owner.is_(None),
                    deliveries.c.claimed_at.is_(None),
                    deliveries.c.claimed_at < stale,
                )
                if dead:
                    orphaned = or_(orphaned, deliveries.c.owner.in_(dead))
                condition = and_(
                    deliveries.c.id.in_(chunk),
                    or_(
                        deliveries.c.status.in_(OWED),
                        and_(deliveries.c.status == SENDING, orphaned),
                    ),
                )
                if postgres:
                    free = (
                        select(deliveries.c.id)
                        .where(condition)
                        .with_for_update(skip_locked=True)
                        .scalar_subquery()
                    )
                    condition = and_(condition, deliveries.c.id.in_(free))
                result = conn.execute(
                    update(deliveries)
                    .where(condition)
                    .values(
                        status=SENDING,
                        owner=owner,
                        claimed_at=now,
                        attempts=deliveries.c.attempts + 1,
                        updated_at=now,
                    )
                    .returning(*_COLUMNS)
                )
                taken += [_delivery(r) for r in result]
        return sorted(taken, key=lambda d: d.id)

    def renew(self, ids: Sequence[int], *, owner: str, now: datetime) -> int:
        """Extend ``owner``'s claims on those of ``ids`` it still holds, so that a
        shard that runs longer than the lease keeps its rows. Returns how many."""
        renewed = 0
        with self.engine.begin() as conn:
            for chunk in _chunks(ids):
                result = conn.execute(
                    update(deliveries)
                    .where(
                        deliveries.c.id.in_(chunk),
                        deliveries.c.owner == owner,
                        deliveries.c.status == SENDING,
                    )
                    .values(claimed_at=now)
                )
                renewed += int(result.rowcount)
        return renewed

    def finish(self, done: Sequence[Finished], *, owner: str, now: datetime) -> int:
        """Record how claimed rows ended, in one transaction; a row another owner has
        taken over since is left to it. Returns how many rows were recorded."""
        if not done:
            return 0
        statement = (
            update(deliveries)
            .where(
                deliveries.c.id == bindparam("did"),
                deliveries.c.owner == owner,
                deliveries.c.status == SENDING,
            )
            .values(
                status=bindparam("new_status"),
                error=bindparam("new_error"),
                message_id=bindparam("new_message_id"),
                items=bindparam("new_items"),
                sent_at=bindparam("new_sent_at"),
                updated_at=now,
            )
        )
        rows = [
            {
                "did": f.delivery_id,
                "new_status": f.status,
                "new_error": f.error,
                "new_message_id": f.message_id,
                "new_items": pack_items(f.items) if f.items else None,
                "new_sent_at": now if f.status in (SENT, FEED_ONLY) else None,
            }
            for f in done
        ]
        with self.engine.begin() as conn:
            result = conn.execute(statement, rows)
        return int(result.rowcount)

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

    def with_history(self, subscriber_ids: Sequence[int], *, before: date) -> set[int]:
        """Those of ``subscriber_ids`` with a recorded digest before ``before``."""
        found: set[int] = set()
        with self.engine.connect() as conn:
            for chunk in _chunks(subscriber_ids):
                query = (
                    select(deliveries.c.subscriber_id)
                    .where(
                        deliveries.c.subscriber_id.in_(chunk),
                        deliveries.c.day < before,
                        deliveries.c["items"].is_not(None),
                    )
                    .distinct()
                )
                found.update(conn.execute(query).scalars())
        return found

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
        """The subscriber's last ``limit`` digests that have papers, newest first."""
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
        wanted = list(delivery_ids)
        found: dict[int, list[Item]] = {d: [] for d in wanted}
        with self.engine.connect() as conn:
            for chunk in _chunks(wanted):
                query = select(deliveries.c.id, deliveries.c["items"]).where(
                    deliveries.c.id.in_(chunk)
                )
                for delivery_id, packed in conn.execute(query):
                    found[delivery_id] = unpack_items(packed)
        return found


def _takeable(
    owner: str | None, claimed: datetime | None, stale: datetime, alive: Callable[[str], bool]
) -> bool:
    return owner is None or claimed is None or claimed < stale or not alive(owner)
