"""Claims on the send ledger: which rows are owed, who holds them, how they ended.

A shard claims its rows in one conditional UPDATE (so two processes never hold one
row), renews the claim while it works, and records how each row ended. A claim names
its owner (host, process, start time): rows of an owner known to be dead are taken
over at once, others when the claim's lease has run out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, update

from digest.store.base import StoreBase
from digest.store.ledger import (
    _COLUMNS,
    FEED_ONLY,
    OWED,
    SENDING,
    SENT,
    Delivery,
    Finished,
    _chunks,
    _delivery,
    pack_items,
)
from digest.tables import deliveries


class ClaimStore(StoreBase):
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

    def held_elsewhere(self, ids: Sequence[int], *, owner: str) -> list[datetime]:
        """When each of those of ``ids`` that an owner other than ``owner`` holds was
        claimed (or renewed), oldest first."""
        found: list[datetime] = []
        with self.engine.connect() as conn:
            for chunk in _chunks(ids):
                query = select(deliveries.c.claimed_at).where(
                    deliveries.c.id.in_(chunk),
                    deliveries.c.status == SENDING,
                    deliveries.c.owner != owner,
                    deliveries.c.claimed_at.is_not(None),
                )
                found += conn.execute(query).scalars()
        return sorted(found)

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
                "new_items": pack_items(f.items, f.note) if f.items or f.note else None,
                "new_sent_at": now if f.status in (SENT, FEED_ONLY) else None,
            }
            for f in done
        ]
        with self.engine.begin() as conn:
            result = conn.execute(statement, rows)
        return int(result.rowcount)


def _takeable(
    owner: str | None, claimed: datetime | None, stale: datetime, alive: Callable[[str], bool]
) -> bool:
    return owner is None or claimed is None or claimed < stale or not alive(owner)
