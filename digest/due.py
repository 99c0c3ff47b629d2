"""Whose digest is due, and for which of their local days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digest.models import Status, Subscriber


def local_now(subscriber: Subscriber, now: datetime) -> datetime:
    """``now`` (naive UTC) on the subscriber's wall clock; unknown zones count as UTC."""
    try:
        zone = ZoneInfo(subscriber.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return now.replace(tzinfo=UTC).astimezone(zone)


def sends_on(subscriber: Subscriber, day: date) -> bool:
    """Daily readers get every day; weekly readers only on their chosen weekdays
    (0 = Monday)."""
    return subscriber.cadence != "weekly" or day.weekday() in subscriber.weekdays


def due_day(subscriber: Subscriber, now: datetime) -> date | None:
    """The local day whose digest is due at ``now``, or None.

    Due once the subscriber's local ``send_hour`` has come; a process that was down at
    that hour still finds it due later the same local day.
    """
    if subscriber.status != Status.ACTIVE or not subscriber.channels:
        return None
    here = local_now(subscriber, now)
    if here.hour < subscriber.send_hour or not sends_on(subscriber, here.date()):
        return None
    return here.date()


def next_due(subscriber: Subscriber, now: datetime) -> datetime | None:
    """When, on the subscriber's wall clock, their next digest falls due after
    ``now``: the next send hour, on a day they get one. None if they get none
    (inactive, no channel, or weekly with no weekday chosen)."""
    if subscriber.status != Status.ACTIVE or not subscriber.channels:
        return None
    here = local_now(subscriber, now)
    for ahead in range(8):
        day = here.date() + timedelta(days=ahead)
        if (ahead or here.hour < subscriber.send_hour) and sends_on(subscriber, day):
            at = datetime(day.year, day.month, day.day, subscriber.send_hour)
            return at.replace(tzinfo=here.tzinfo)
    return None
