"""Read the bounce mailbox into the suppression list, before the day plans.

Each unread message is read once (see :mod:`digest.bounces`): a hard bounce or a
complaint suppresses its reader at once; a soft bounce counts, and the
``bounces.soft_limit``-th within ``bounces.soft_days`` suppresses. Every report is
kept by its Message-ID, so reading a message twice (after a crash between storing it
and marking it seen) counts it once. A message that is no bounce, or names no reader
of ours, is marked seen and left for a person to read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from digest.bounces import read_report
from digest.day.shard import link_maker
from digest.inbox import ImapInbox, Inbox, MaildirInbox
from digest.settings import BounceSettings, Settings
from digest.store import Store
from digest.tokens import Tokens

log = logging.getLogger("digest.bounces")


@dataclass(slots=True)
class ReturnsReport:
    read: int = 0
    suppressed: list[tuple[str, str, str]] = field(default_factory=list)  # email, kind, why
    soft: int = 0
    ignored: int = 0
    error: str | None = None


def open_inbox(settings: BounceSettings) -> MaildirInbox | ImapInbox | None:
    if settings.maildir is not None:
        return MaildirInbox(settings.maildir)
    if settings.imap_host is not None:
        return ImapInbox(settings)
    return None


def mailbox_name(settings: BounceSettings) -> str:
    if settings.imap_host is not None:
        return f"imap://{settings.imap_host}/{settings.imap_folder}"
    return str(settings.maildir)


def read_returns(store: Store, settings: Settings, *, now: datetime) -> ReturnsReport:
    report = ReturnsReport()
    found = open_inbox(settings.bounces)
    if found is None:
        return report
    tokens = link_maker(settings).tokens
    limits = settings.bounces
    try:
        with found as inbox:
            _read(store, inbox, tokens, limits, report, now)
    except OSError as exc:
        report.error = f"bounce mailbox {mailbox_name(limits)}: {exc}"
        log.warning("%s", report.error)
    return report


def _read(
    store: Store,
    inbox: Inbox,
    tokens: Tokens,
    limits: BounceSettings,
    report: ReturnsReport,
    now: datetime,
) -> None:
    for message in inbox.unread():
        report.read += 1
        try:
            reading = read_report(message.data, tokens)
        except Exception:  # one message no parser can read never stops the others
            log.exception("cannot read %s of the bounce mailbox", message.name)
            report.ignored += 1
            inbox.mark_seen(message)
            continue
        if reading.kind is None or reading.subscriber_id is None:
            report.ignored += 1
        else:
            outcome = store.record_report(
                reading.subscriber_id,
                report_id=reading.report_id,
                kind=reading.kind,
                reason=reading.reason,
                now=now,
                soft_limit=limits.soft_limit,
                soft_days=limits.soft_days,
            )
            if outcome == "suppressed":
                sub = store.subscriber(reading.subscriber_id)
                email = sub.email if sub else str(reading.subscriber_id)
                report.suppressed.append((email, reading.kind, reading.reason))
            elif outcome == "counted":
                report.soft += 1
        inbox.mark_seen(message)
