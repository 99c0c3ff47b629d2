"""The send ledger: one row per (subscriber, day), pending → sending → sent / failed.

A digest is decided (its papers written as digest items) and the subscriber's
``last_batch_id`` advanced in the same transaction, so a paper is never decided twice.
Sending claims a row with a conditional UPDATE, so two processes never send one digest.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.engine import Row

from digest.store.base import StoreBase
from digest.tables import deliveries, digest_items, subscribers

PENDING, SENDING, SENT, FAILED, DEFERRED, EMPTY = (
    "pending",
    "sending",
    "sent",
    "failed",
    "deferred",
    "empty",
)
FEED_ONLY = "feed"  # decided for a reader who takes RSS only: nothing to send
CANCELLED = "cancelled"  # the reader unsubscribed between deciding and sending


@dataclass(frozen=True, slots=True)
class Item:
    profile: str
    paper_id: str
    score: float
    why: str


@dataclass(frozen=True, slots=True)
class Planned:
    """A decided digest, before anything is written or sent."""

    subscriber_id: int
    day: date
    batch_id: int
    items: tuple[Item, ...]


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
    )


class LedgerStore(StoreBase):
    def plan(self, planned: Sequence[Planned], *, now: datetime) -> int:
        """Record decided digests as pending; pairs already in the ledger are left
        alone. Returns how many were new."""
        if not planned:
            return 0
        days = {p.day for p in planned}
        with self.engine.begin() as conn:
            taken = {
                (sid, day)
                for sid, day in conn.execute(
                    select(deliveries.c.subscriber_id, deliveries.c.day).where(
                        deliveries.c.day.in_(days)
                    )
                )
            }
            fresh = [p for p in planned if (p.subscriber_id, p.day) not in taken]
            if not fresh:
                return 0
            rows = conn.execute(
                deliveries.insert().returning(
                    deliveries.c.id, deliveries.c.subscriber_id, sort_by_parameter_order=True
                ),
                [
                    {
                        "subscriber_id": p.subscriber_id,
                        "day": p.day,
                        "status": PENDING if p.items else EMPTY,
                        "attempts": 0,
                        "batch_id": p.batch_id,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for p in fresh
                ],
            ).all()
            items = [
                {
                    "delivery_id": delivery_id,
                    "position": position,
                    "profile": item.profile,
                    "paper_id": item.paper_id,
                    "score": item.score,
                    "why": item.why,
                }
                for (delivery_id, _), p in zip(rows, fresh, strict=True)
                for position, item in enumerate(p.items)
            ]
            if items:
                conn.execute(digest_items.insert(), items)
            conn.execute(
                update(subscribers)
                .where(subscribers.c.id == bindparam("sid"))
                .values(last_batch_id=bindparam("batch")),
                [{"sid": p.subscriber_id, "batch": p.batch_id} for p in fresh],
            )
        return len(fresh)

    def to_send(
        self, day: date, *, now: datetime, lease: timedelta = timedelta(minutes=30)
    ) -> list[Delivery]:
        """Deliveries of ``day`` still owed: pending, deferred, or claimed by a process
        that has not reported back within ``lease`` (it crashed)."""
        stale = now - lease
        query = (
            select(deliveries)
            .where(
                deliveries.c.day == day,
                or_(
                    deliveries.c.status.in_((PENDING, DEFERRED)),
                    and_(deliveries.c.status == SENDING, deliveries.c.claimed_at < stale),
                ),
            )
            .order_by(deliveries.c.id)
        )
        with self.engine.connect() as conn:
            return [_delivery(r) for r in conn.execute(query)]

    def claim(self, delivery: Delivery, *, now: datetime) -> bool:
        """Take ``delivery`` for sending; False if another process already has it."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.id == delivery.id,
                    deliveries.c.status == delivery.status,
                    deliveries.c.attempts == delivery.attempts,
                )
                .values(
                    status=SENDING,
                    claimed_at=now,
                    attempts=deliveries.c.attempts + 1,
                    updated_at=now,
                )
            )
        return done.rowcount == 1

    def finish(
        self,
        delivery_id: int,
        status: str,
        *,
        now: datetime,
        message_id: str | None = None,
        error: str | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": status, "updated_at": now, "error": error}
        if message_id is not None:
            values["message_id"] = message_id
        if status == SENT:
            values["sent_at"] = now
        with self.engine.begin() as conn:
            conn.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(values))

    def deliveries(
        self, *, day: date | None = None, subscriber_id: int | None = None
    ) -> list[Delivery]:
        query = select(deliveries).order_by(deliveries.c.day, deliveries.c.id)
        if day is not None:
            query = query.where(deliveries.c.day == day)
        if subscriber_id is not None:
            query = query.where(deliveries.c.subscriber_id == subscriber_id)
        with self.engine.connect() as conn:
            return [_delivery(r) for r in conn.execute(query)]

    def delivery(self, delivery_id: int) -> Delivery | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(deliveries).where(deliveries.c.id == delivery_id)).first()
        return _delivery(row) if row else None

    def recent_deliveries(self, subscriber_id: int, limit: int) -> list[Delivery]:
        """The subscriber's last ``limit`` decided digests with papers, newest first."""
        query = (
            select(deliveries)
            .where(deliveries.c.subscriber_id == subscriber_id, deliveries.c.status != EMPTY)
            .order_by(deliveries.c.day.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_delivery(r) for r in conn.execute(query)]

    def items(self, delivery_ids: Iterable[int]) -> dict[int, list[Item]]:
        wanted = list(delivery_ids)
        found: dict[int, list[Item]] = {d: [] for d in wanted}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), 900):
                query = (
                    select(digest_items)
                    .where(digest_items.c.delivery_id.in_(wanted[start : start + 900]))
                    .order_by(digest_items.c.delivery_id, digest_items.c.position)
                )
                for row in conn.execute(query):
                    m = row._mapping
                    found[m["delivery_id"]].append(
                        Item(m["profile"], m["paper_id"], m["score"], m["why"])
                    )
        return found
