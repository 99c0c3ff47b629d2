"""One shard of the day: claim its readers' ledger rows, score, render, send, finish.

A :class:`Worker` is what one process keeps between shards: a store connection, the
renderer (each paper's picks rendered once per process), the feed writer and one
mailer (one SMTP connection, reused). A shard claims its rows in one transaction,
records how they ended in a few more, and never sleeps on a reader: temporary
failures go to the back of the shard and are retried after the others, with backoff.
When the mail server cannot be reached at all, the rest of that pass waits for the
next round instead of paying a timeout per reader.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from digest.day import quiet
from digest.day.feeds import FeedWriter
from digest.day.picks import Picker
from digest.day.plan import ShardSpec, owner_alive, this_owner
from digest.day.throttle import RELAY, Throttle
from digest.day.vectors import Models
from digest.deliver import (
    Mailer,
    PermanentFailure,
    TemporaryFailure,
    Unavailable,
    make_mailer,
    message_id_for,
)
from digest.links import LinkMaker
from digest.mime import Letterhead, Message
from digest.models import Digest, DigestSection, Status, Subscriber
from digest.render import Renderer
from digest.settings import Settings
from digest.signing import SigningKey, SigningKeyError, load_key
from digest.store import Delivery, Finished, Item, Store
from digest.store.ledger import CANCELLED, DEFERRED, EMPTY, FAILED, FEED_ONLY, SENT
from digest.tokens import Tokens


class MissingSecret(RuntimeError):
    """No usable ``secret_key``: nothing that signs links may start."""


def link_maker(settings: Settings, *, now: datetime | None = None) -> LinkMaker:
    """Signs links with the secret; expiring ones dated ``now`` (naive UTC) if given."""
    if settings.secret_key is None:
        raise MissingSecret("secret_key is not set: run `digest init`, or set DIGEST_SECRET_KEY")
    stamp = now.replace(tzinfo=UTC).timestamp() if now is not None else None
    try:
        tokens = Tokens(
            settings.secret_key.get_secret_value(),
            clock=None if stamp is None else lambda: stamp,
        )
    except ValueError as exc:
        raise MissingSecret(f"{exc}; `digest init` writes a suitable one") from exc
    return LinkMaker(settings.web.base_url, tokens, settings.mail.bounce_address)


def signing_key(settings: Settings) -> SigningKey | None:
    """The DKIM key, loaded once per process; a key file that is set and cannot be
    used stops the run like a missing secret."""
    try:
        return load_key(settings.dkim)
    except SigningKeyError as exc:
        raise MissingSecret(str(exc)) from exc


def open_store(settings: Settings) -> Store:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Store.open(settings.db_url)


class Stopped(Exception):
    """A worker asked to stop left its shard after recording the digest in hand."""


@dataclass(slots=True)
class ShardReport:
    """What a shard (or a whole day, merged) did; ``failed`` and ``deferred`` hold
    (email, reason) pairs, ``seconds`` the time spent per stage."""

    shards: int = 0
    claimed: int = 0
    sent: int = 0
    empty: int = 0
    feed_only: int = 0
    cancelled: int = 0
    feeds: int = 0
    deferred: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)
    """Why digests were empty or short: each note and how many readers got it."""

    def merge(self, other: ShardReport) -> None:
        for name in ("shards", "claimed", "sent", "empty", "feed_only", "cancelled", "feeds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.deferred += other.deferred
        self.failed += other.failed
        for stage, seconds in other.seconds.items():
            self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds
        for text, count in other.notes.items():
            self.notes[text] = self.notes.get(text, 0) + count


class _Clock:
    def __init__(self, report: ShardReport) -> None:
        self.report = report
        self.last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.report.seconds[stage] = self.report.seconds.get(stage, 0.0) + now - self.last
        self.last = now


@dataclass(slots=True)
class _Mail:
    """A digest's message on its way; with an ``error``, one to try again."""

    delivery: Delivery
    sub: Subscriber
    message: Message
    items: tuple[Item, ...]
    note: str = ""  # why the digest is short, kept with it however it ends
    error: str = ""
    throttled: bool = False  # held back by a domain's rate, not refused

    def sent(self) -> Finished:
        return Finished(
            self.delivery.id, SENT, self.items, message_id=self.message.message_id, note=self.note
        )

    def ended(self, status: str, error: str) -> Finished:
        return Finished(self.delivery.id, status, self.items, error=error, note=self.note)

    def again(self, error: str, *, throttled: bool = False) -> _Mail:
        return replace(self, error=error, throttled=throttled)


class Worker:
    """Runs shards in one process; use as a context manager."""

    def __init__(
        self,
        settings: Settings,
        *,
        now: datetime,
        mailer: Mailer | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_digest: Callable[[], None] | None = None,
        stopping: Callable[[], bool] | None = None,
        epoch: float | None = None,
    ) -> None:
        self.settings = settings
        self.now = now
        # the wall-clock time ``now`` stands for: claims are timed from it, so that a
        # lease runs out in real time on any machine however long ago the day began
        self.epoch = time.time() if epoch is None else epoch
        # a digest's links are dated by the day, not by when a worker got to them
        self.links = link_maker(settings, now=now)
        self.store = open_store(settings)
        self.picker = Picker(self.store, Models(self.store), settings.day.replacements)
        self.renderer = Renderer(settings)
        self.feeds = FeedWriter(settings, self.links, self.store)
        self.throttle = Throttle(self.store, settings.mail)
        self.letterhead = Letterhead(
            settings.mail,
            date=now.replace(tzinfo=UTC),
            signing=signing_key(settings),
            dkim_domain=settings.dkim.domain,
        )
        self.mailer = mailer or make_mailer(settings)
        # a mailer whose deliveries overwrite each other (a Maildir by Message-ID)
        # can record its rows in batches; any other records each row as it is sent
        self.batch = 500 if getattr(self.mailer, "idempotent", False) else 1
        self.sleep = sleep
        self.on_digest = on_digest
        self.stopping = stopping
        self.owner = this_owner()
        self.lease = timedelta(seconds=settings.day.claim_lease)
        self._held: list[int] = []
        self._renewed = 0.0
        self.down: str | None = None  # why the mail server is out of reach this pass

    def __enter__(self) -> Worker:
        self.mailer.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.mailer.__exit__(None, None, None)
        finally:
            self.store.close()

    def run(self, spec: ShardSpec, version: str | None) -> ShardReport:
        report = ShardReport(shards=1)
        clock = _Clock(report)
        self.down = None
        rows = self.store.claim(
            spec.ids, owner=self.owner, now=self.clock(), lease=self.lease, alive=owner_alive
        )
        self._held = [r.id for r in rows]
        self._renewed = time.monotonic()
        report.claimed = len(rows)
        clock.lap("ledger")
        if not rows:
            return report
        subs = self.store.subscribers_by_id({r.subscriber_id for r in rows})
        done: list[Finished] = []
        live = []
        for row in rows:
            sub = subs.get(row.subscriber_id)
            if sub is None or sub.status != Status.ACTIVE:
                done.append(Finished(row.id, CANCELLED, error="no longer subscribed"))
                report.cancelled += 1
            else:
                live.append((row, sub))
        picked: dict[int, list[DigestSection]] = {}
        if version is not None:
            picked = self.picker.for_readers(
                version,
                [(r.id, s.id, r.after_batch_id, r.batch_id or 0) for r, s in live],
            )
        failed_sources = self.store.failed_sources()
        clock.lap("score")
        retry: list[_Mail] = []
        for row, sub in live:
            sections = tuple(s for s in picked.get(row.id, []) if s.papers)
            items = tuple(
                Item(s.profile, sp.paper.id, sp.score, sp.why) for s in sections for sp in s.papers
            )
            note = ""
            if not items or failed_sources:
                collected = self.picker.collected(version, row.after_batch_id, row.batch_id or 0)
                note = quiet.note(picked=len(items), collected=collected, failed=failed_sources)
                report.notes[note] = report.notes.get(note, 0) + 1
            # the note is kept with the digest: a feed made from the ledger says it too
            _sort(self._one(row, sub, sections, items, note, report, clock), done, retry)
            if self.on_digest is not None:
                self.on_digest()
            if len(done) >= self.batch:
                self._finish(done, report, clock)
            if self.stopping is not None and self.stopping():
                # asked to stop: what was sent is recorded; the rest stays claimed
                self._finish(done, report, clock)
                raise Stopped(spec.number)
        self._finish(done, report, clock)
        self._retry(retry, report, clock)
        return report

    def _one(
        self,
        row: Delivery,
        sub: Subscriber,
        sections: tuple[DigestSection, ...],
        items: tuple[Item, ...],
        note: str,
        report: ShardReport,
        clock: _Clock,
    ) -> Finished | _Mail:
        rss = "rss" in sub.channels
        # feed items rendered now, rather than from the ledger when the feed is fetched
        written = rss and self.feeds.written
        if not items and not self.settings.mail.send_empty:
            report.empty += 1
            if written:  # a feed says why it has nothing new, like an email would
                self.feeds.add(sub, row.day, [self.renderer.note_item(row.day, note)])
                report.feeds += 1
            return Finished(row.id, EMPTY, note=note)
        digest = Digest(sub.email, row.day, sections, self.links.links(sub.id, row.id), note)
        email = "email" in sub.channels
        if email:
            rendered = self.renderer.render(digest, items=written)
            fresh = rendered.items
        else:
            fresh = self.renderer.feed_items(digest) if written else None
        clock.lap("render")
        if fresh is not None and (items or note):
            if note:
                fresh = [self.renderer.note_item(row.day, note), *fresh]
            self.feeds.add(sub, row.day, fresh)
            report.feeds += 1
            clock.lap("feeds")
        if not email:
            report.feed_only += 1
            return Finished(row.id, FEED_ONLY, items, note=note)
        try:
            message = self.letterhead.message(
                to=digest.email,
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
                unsubscribe=digest.links.unsubscribe,
                archive=digest.links.archive,
                message_id=message_id_for(self.settings.mail, row.id, row.day),
                sender=self.links.return_path(sub.id),
            )
        except ValueError as exc:
            report.failed.append((sub.email, f"bad message: {exc}"))
            return Finished(row.id, FAILED, items, error=f"bad message: {exc}", note=note)
        clock.lap("render")
        return self._send(_Mail(row, sub, message, items, note), report, clock)

    def _send(self, mail: _Mail, report: ShardReport, clock: _Clock) -> Finished | _Mail:
        if self.down is not None:
            return mail.again(self.down)
        if self.throttle.active:
            while (held := self.throttle.take(mail.sub.email)) == RELAY:
                self.sleep(self.throttle.until_next_window())
            if held is not None:
                clock.lap("deliver")
                return mail.again(f"{held}: over its rate", throttled=True)
        try:
            self.mailer.send(mail.message)
        except Unavailable as exc:
            self.down = str(exc)
            return mail.again(str(exc))
        except PermanentFailure as exc:
            report.failed.append((mail.sub.email, str(exc)))
            return mail.ended(FAILED, str(exc))
        except TemporaryFailure as exc:
            return mail.again(str(exc))
        finally:
            clock.lap("deliver")
        report.sent += 1
        return mail.sent()

    def _retry(self, retry: list[_Mail], report: ShardReport, clock: _Clock) -> None:
        """Temporary failures, and digests a domain's rate held back, after everyone
        else. Failures get up to ``mail.retries`` more rounds, the delay doubling
        between rounds (not between readers), and what still fails is deferred to the
        next run; held-back digests wait for the next window, and are never skipped."""
        delay = self.settings.mail.retry_backoff
        rounds = 0
        while retry:
            if all(r.throttled for r in retry):
                self.sleep(self.throttle.until_next_window())
            elif rounds < self.settings.mail.retries:
                rounds += 1
                self.sleep(delay)
                delay *= 2
            else:
                self._defer([r for r in retry if not r.throttled], report, clock)
                retry = [r for r in retry if r.throttled]
                continue
            self.down = None  # a new round tries the server again
            later: list[_Mail] = []
            done: list[Finished] = []
            for r in retry:
                _sort(self._send(r, report, clock), done, later)
                if len(done) >= self.batch:
                    self._finish(done, report, clock)
            self._finish(done, report, clock)
            retry = later

    def _defer(self, retry: list[_Mail], report: ShardReport, clock: _Clock) -> None:
        deferred = [r.ended(DEFERRED, r.error) for r in retry]
        report.deferred += [(r.sub.email, r.error) for r in retry]
        self._finish(deferred, report, clock)

    def clock(self) -> datetime:
        """The day's ``now``, moved on by the time since: when claims are made."""
        return self.now + timedelta(seconds=time.time() - self.epoch)

    def _finish(self, done: list[Finished], report: ShardReport, clock: _Clock) -> None:
        # a digest's feed items are stored before its row says it was sent
        self.feeds.flush(self.now)
        if done:
            self.store.finish(done, owner=self.owner, now=self.now)
            done.clear()
            clock.lap("ledger")
        if time.monotonic() - self._renewed > self.lease.total_seconds() / 3:
            # a shard slower than its lease keeps the rows it has yet to send
            self.store.renew(self._held, owner=self.owner, now=self.clock())
            self._renewed = time.monotonic()
            clock.lap("ledger")


def _sort(outcome: Finished | _Mail, done: list[Finished], retry: list[_Mail]) -> None:
    if isinstance(outcome, _Mail):
        retry.append(outcome)
    else:
        done.append(outcome)
