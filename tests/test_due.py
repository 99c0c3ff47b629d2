from __future__ import annotations

from datetime import date, datetime

from digest.due import due_day, next_due
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


def test_next_due_is_the_next_send_hour_on_a_sending_day() -> None:
    tokyo = reader(timezone="Asia/Tokyo", send_hour=7)
    soon = next_due(tokyo, datetime(2026, 11, 19, 21, 59))  # 06:59 in Tokyo
    assert soon is not None and soon.isoformat() == "2026-11-20T07:00:00+09:00"
    later = next_due(tokyo, datetime(2026, 11, 19, 22, 0))  # due now: next is tomorrow
    assert later is not None and later.isoformat() == "2026-11-21T07:00:00+09:00"
    weekly = reader(cadence="weekly", weekdays=(0,), send_hour=6)
    monday = next_due(weekly, datetime(2026, 11, 23, 8, 0))
    assert monday is not None and monday.date() == date(2026, 11, 30)
    assert next_due(reader(cadence="weekly", weekdays=()), datetime(2026, 11, 20)) is None
    assert next_due(reader(status="pending"), datetime(2026, 11, 20)) is None
