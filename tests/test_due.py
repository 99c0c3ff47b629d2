from __future__ import annotations

from datetime import date, datetime

from digest.due import due_day
from digest.models import Subscriber


def reader(**kw: object) -> Subscriber:
    fields: dict[str, object] = {"status": "active", **kw}
    return Subscriber(id=1, email="a@example.org", **fields)  # type: ignore[arg-type]


def test_due_from_the_local_send_hour_on() -> None:
    tokyo = reader(timezone="Asia/Tokyo", send_hour=7)
    assert due_day(tokyo, datetime(2026, 11, 19, 21, 59)) is None  # 06:59 in Tokyo
    assert due_day(tokyo, datetime(2026, 11, 19, 22, 0)) == date(2026, 11, 20)
    assert due_day(tokyo, datetime(2026, 11, 20, 14, 0)) == date(2026, 11, 20)  # caught up


def test_weekly_readers_only_on_their_weekdays() -> None:
    weekly = reader(cadence="weekly", weekdays=(0,), send_hour=6)  # Mondays
    assert due_day(weekly, datetime(2026, 11, 23, 8, 0)) == date(2026, 11, 23)
    assert due_day(weekly, datetime(2026, 11, 24, 8, 0)) is None


def test_pending_and_unsubscribed_readers_are_never_due() -> None:
    assert due_day(reader(status="pending"), datetime(2026, 11, 20, 12)) is None
    assert due_day(reader(status="unsubscribed"), datetime(2026, 11, 20, 12)) is None


def test_an_unknown_timezone_counts_as_utc() -> None:
    assert due_day(reader(timezone="Mars/Olympus", send_hour=7), datetime(2026, 11, 20, 7)) == date(
        2026, 11, 20
    )
