"""The suppression list: bounces and complaints read from the bounce mailbox, and the
readers whose mail they stopped.

A suppressed reader's status is ``suppressed``, so the day, which plans only active
readers, skips them without a join; the ``suppressions`` row says why and what their
status was, so that resuming puts them back as they were.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from digest.models import Status
from digest.store.base import StoreBase
from digest.tables import mail_reports, subscribers, suppressions

SUPPRESSED = Status.SUPPRESSED
ReportKind = Literal["hard", "soft", "complaint"]
Outcome = Literal["suppressed", "counted", "seen", "already suppressed"]


@dataclass(frozen=True, slots=True)
class Suppression:
    subscriber_id: int
    email: str
    kind: str
    reason: str
    since: datetime


class SuppressionStore(StoreBase):
    def record_report(
        self,
        subscriber_id: int,
        *,
        report_id: str,
        kind: ReportKind,
        reason: str,
        now: datetime,
        soft_limit: int,
        soft_days: int,
    ) -> Outcome:
        """Keep one bounce or complaint, once per ``report_id``, and suppress the reader
        on a hard bounce, a complaint, or the ``soft_limit``-th soft bounce within
        ``soft_days``; all in one transaction. Returns what became of it."""
        reason = reason[:2000]
        with self.engine.begin() as conn:
            status = conn.execute(
                select(subscribers.c.status).where(subscribers.c.id == subscriber_id)
            ).scalar()
            if status is None or status == Status.DELETED:
                return "seen"
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(mail_reports).values(
                            report_id=report_id[:300],
                            subscriber_id=subscriber_id,
                            kind=kind,
                            reason=reason,
                            received_at=now,
                        )
                    )
            except IntegrityError:
                return "seen"
            if status == SUPPRESSED:
                return "already suppressed"
            if kind == "soft":
                recent = conn.execute(
                    select(func.count())
                    .select_from(mail_reports)
                    .where(
                        mail_reports.c.subscriber_id == subscriber_id,
                        mail_reports.c.kind == "soft",
                        mail_reports.c.received_at > now - timedelta(days=soft_days),
                    )
                ).scalar_one()
                if recent < soft_limit:
                    return "counted"
                reason = f"{recent} soft bounces in {soft_days} days, the last: {reason}"
            conn.execute(
                insert(suppressions).values(
                    subscriber_id=subscriber_id,
                    kind=kind,
                    reason=reason,
                    since=now,
                    previous_status=status,
                )
            )
            conn.execute(
                update(subscribers)
                .where(subscribers.c.id == subscriber_id)
                .values(status=SUPPRESSED)
            )
        return "suppressed"

    def suppression(self, subscriber_id: int) -> Suppression | None:
        found = self.suppressions([subscriber_id])
        return found[0] if found else None

    def suppressions(self, subscriber_ids: list[int] | None = None) -> list[Suppression]:
        """The suppressed readers (or those of ``subscriber_ids``), oldest first."""
        query = (
            select(
                suppressions.c.subscriber_id,
                subscribers.c.email,
                suppressions.c.kind,
                suppressions.c.reason,
                suppressions.c.since,
            )
            .join(subscribers, subscribers.c.id == suppressions.c.subscriber_id)
            .order_by(suppressions.c.since, suppressions.c.subscriber_id)
        )
        if subscriber_ids is not None:
            query = query.where(suppressions.c.subscriber_id.in_(subscriber_ids))
        with self.engine.connect() as conn:
            return [Suppression(*row) for row in conn.execute(query)]

    def resume(self, subscriber_id: int) -> bool:
        """Lift a suppression: the reader's status is what it was before; their soft
        bounces so far no longer count. False if they were not suppressed."""
        with self.engine.begin() as conn:
            previous = conn.execute(
                select(suppressions.c.previous_status).where(
                    suppressions.c.subscriber_id == subscriber_id
                )
            ).scalar()
            if previous is None:
                return False
            conn.execute(delete(suppressions).where(suppressions.c.subscriber_id == subscriber_id))
            conn.execute(
                delete(mail_reports).where(
                    mail_reports.c.subscriber_id == subscriber_id, mail_reports.c.kind == "soft"
                )
            )
            conn.execute(
                update(subscribers)
                .where(subscribers.c.id == subscriber_id, subscribers.c.status == SUPPRESSED)
                .values(status=previous)
            )
        return True
