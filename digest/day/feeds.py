"""Personal RSS feeds, made from the send ledger or written by the day.

By default (``feed_storage = "ledger"``) the day writes nothing for feeds: a feed is
made when it is fetched, from the reader's last ``digest_history`` ledger rows (what
each digest held, and its note), and a conditional GET is answered from those rows'
ids and times alone, without rendering. With ``feed_storage = "files"`` or
``"database"`` the day writes each digest's rendered feed items once, as a fragment: a
file ``feeds/days/<day>/<feed token>.xml`` or a row that every machine sees; it never
reads or rewrites an older digest, and the web app serves a feed by joining the
reader's last fragments. Day folders older than any feed can show are deleted after
each collect. A reader with no fragment yet gets a feed built from the ledger.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from digest.links import LinkMaker
from digest.models import Digest, DigestSection, Paper, ScoredPaper, Subscriber
from digest.render import Renderer
from digest.settings import Settings
from digest.store import Item, Store
from digest.store.ledger import (
    DEFERRED,
    EMPTY,
    FAILED,
    FEED_ONLY,
    PENDING,
    SENDING,
    SENT,
    Delivery,
)


def sections(items: Sequence[Item], papers: Mapping[str, Paper]) -> tuple[DigestSection, ...]:
    """A recorded digest's items as sections, in their recorded order."""
    found: dict[str, list[ScoredPaper]] = {}
    for item in items:
        paper = papers.get(item.paper_id)
        if paper is not None:
            found.setdefault(item.profile, []).append(
                ScoredPaper(paper, item.score, item.why, item.profile)
            )
    return tuple(DigestSection(name, tuple(picks)) for name, picks in found.items())


def recent(store: Store, subscriber: Subscriber, settings: Settings) -> list[Delivery]:
    """The ledger rows a feed made from the ledger shows: the reader's last
    ``digest_history`` digests that have papers or a note, newest first."""
    return [
        d
        for d in store.recent_deliveries(subscriber.id, settings.digest_history)
        if d.status in (SENT, FEED_ONLY, FAILED, DEFERRED, SENDING, PENDING, EMPTY)
    ]


def ledger_etag(rows: Sequence[Delivery]) -> str:
    """A validator for a feed made from these ledger rows: it changes when a row is
    added or finished, and costs no rendering."""
    key = "|".join(f"{d.id}:{d.status}:{d.updated_at}" for d in rows)
    return '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'


def when(d: Delivery) -> datetime:
    """When a recorded digest was sent (or decided: its day)."""
    return d.sent_at or datetime.combine(d.day, datetime.min.time())


def feed_digests(
    store: Store,
    subscriber: Subscriber,
    settings: Settings,
    links: LinkMaker,
    rows: Sequence[Delivery] | None = None,
) -> tuple[list[Digest], list[datetime]]:
    """The reader's last ``digest_history`` recorded digests (or those of ``rows``),
    newest first, each with its note, and when each was sent (or decided)."""
    found = recent(store, subscriber, settings) if rows is None else list(rows)
    recorded = store.recorded(d.id for d in found)
    papers = store.get_papers(i.paper_id for its, _ in recorded.values() for i in its)
    digests = []
    for d in found:
        items, note = recorded[d.id]
        # links dated by the digest, as the day dated them: a feed made again later
        # is the same bytes, and its links expire with the digest's
        dated = links.at(when(d).replace(tzinfo=UTC).timestamp()).links(subscriber.id)
        digests.append(Digest(subscriber.email, d.day, sections(items, papers), dated, note))
    return digests, [when(d) for d in found]


def feed_xml(
    store: Store,
    settings: Settings,
    sub: Subscriber,
    *,
    links: LinkMaker,
    renderer: Renderer | None = None,
    rows: Sequence[Delivery] | None = None,
) -> tuple[bytes, datetime | None]:
    """The personal feed built from the ledger (from ``rows`` of it, if given), and
    when it last changed (None before the first digest)."""
    renderer = renderer or Renderer(settings)
    digests, times = feed_digests(store, sub, settings, links, rows)
    entries = []
    for d, t in zip(digests, times, strict=True):
        pieces = renderer.feed_items(d) if d.size else []
        if d.note:
            pieces = [renderer.note_item(d.day, d.note), *pieces]
        if pieces:
            entries.append((t, b"".join(pieces)))
    return _page(renderer, settings, links, sub, entries), max(times, default=None)


def served_feed(
    store: Store, settings: Settings, sub: Subscriber, *, links: LinkMaker, renderer: Renderer
) -> bytes | None:
    """The reader's feed as the web app serves it, or None before their first digest."""
    if settings.feed_storage != "ledger":
        stored = stored_feed(settings, links, sub.id, store=store)
        if stored is not None:
            return stored.xml(renderer, settings, links, sub)
    body, updated = feed_xml(store, settings, sub, links=links, renderer=renderer)
    return body if updated is not None else None


def _page(
    renderer: Renderer,
    settings: Settings,
    links: LinkMaker,
    sub: Subscriber,
    entries: Sequence[tuple[datetime, bytes]],
) -> bytes:
    return renderer.feed(
        email=sub.email,
        self_url=links.feed(sub.id),
        # the site, not a manage link: feeds are cached and shared, manage links expire
        link=settings.web.base_url,
        items=[[body] for _, body in entries],
        updated=max((t for t, _ in entries), default=None),
    )


def _token(links: LinkMaker, subscriber_id: int) -> str:
    return links.feed(subscriber_id).rsplit("/", 1)[-1].removesuffix(".rss")


def fragment(settings: Settings, links: LinkMaker, subscriber_id: int, day: date) -> Path:
    return (
        settings.data_dir
        / "feeds"
        / "days"
        / day.isoformat()
        / f"{_token(links, subscriber_id)}.xml"
    )


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


@dataclass(frozen=True, slots=True)
class StoredFeed:
    """A reader's fragments, newest first, as (day, size, written in ns) — enough for
    the validators without reading a byte — and how to read them."""

    stamps: tuple[tuple[str, int, int], ...]
    read: Callable[[], list[bytes | None]]

    @property
    def etag(self) -> str:
        key = "|".join(f"{day}:{size}:{written}" for day, size, written in self.stamps)
        return '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'

    @property
    def modified(self) -> datetime:
        return _from_ns(max(written for _, _, written in self.stamps))

    def xml(
        self, renderer: Renderer, settings: Settings, links: LinkMaker, sub: Subscriber
    ) -> bytes:
        entries = [
            (_from_ns(written), body)
            for (_, _, written), body in zip(self.stamps, self.read(), strict=True)
            if body is not None
        ]
        return _page(renderer, settings, links, sub, entries)


def _from_ns(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC).replace(tzinfo=None)


def _ns(when: datetime) -> int:
    return int(when.replace(tzinfo=UTC).timestamp() * 1_000_000) * 1000


def stored_feed(
    settings: Settings,
    links: LinkMaker,
    subscriber_id: int,
    *,
    store: Store | None = None,
    look_back: int = 400,
) -> StoredFeed | None:
    """The reader's last ``digest_history`` fragments (days up to ``look_back`` back
    from the newest), or None if they have none."""
    if settings.feed_storage == "database":
        assert store is not None, "feeds in the database are read through the store"
        return _stored_rows(store, settings, subscriber_id)
    root = settings.data_dir / "feeds" / "days"
    try:
        days = sorted((d for d in os.listdir(root) if len(d) == 10), reverse=True)
    except FileNotFoundError:
        return None
    name = f"{_token(links, subscriber_id)}.xml"
    found: list[tuple[Path, int, int]] = []
    for day in days[:look_back]:
        path = root / day / name
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        found.append((path, stat.st_size, stat.st_mtime_ns))
        if len(found) == settings.digest_history:
            break
    if not found:
        return None

    def read() -> list[bytes | None]:
        bodies: list[bytes | None] = []
        for path, _, _ in found:
            try:
                bodies.append(path.read_bytes())
            except FileNotFoundError:
                bodies.append(None)
        return bodies

    return StoredFeed(tuple((p.parent.name, size, ns) for p, size, ns in found), read)


def _stored_rows(store: Store, settings: Settings, subscriber_id: int) -> StoredFeed | None:
    stamps = store.fragment_stamps(subscriber_id, settings.digest_history)
    if not stamps:
        return None

    def read() -> list[bytes | None]:
        bodies = store.fragments(subscriber_id, [day for day, _, _ in stamps])
        return [bodies.get(day) for day, _, _ in stamps]

    return StoredFeed(
        tuple((day.isoformat(), size, _ns(written)) for day, size, written in stamps), read
    )


def prune_fragments(settings: Settings, today: date, store: Store | None = None) -> int:
    """Delete the fragments no feed can show any more: older than ``digest_history``
    weeks (a weekly reader's last ``digest_history`` digests lie within them).
    Returns how many day folders (or database rows) went. Run after a collect, off
    the day's path, so that the storage stays bounded by the feeds' length."""
    keep_from = today - timedelta(weeks=settings.digest_history)
    if settings.feed_storage == "database":
        assert store is not None, "feeds in the database are pruned through the store"
        return store.prune_fragments(keep_from)
    root = settings.data_dir / "feeds" / "days"
    try:
        days = [d for d in os.listdir(root) if len(d) == 10 and d < keep_from.isoformat()]
    except FileNotFoundError:
        return 0
    for day in days:
        shutil.rmtree(root / day, ignore_errors=True)
    return len(days)


class FeedWriter:
    """Writes each digest's fragment; one per process, like the renderer. Fragments
    kept in the database are written in batches, by :meth:`flush`."""

    def __init__(self, settings: Settings, links: LinkMaker, store: Store | None = None) -> None:
        self.settings = settings
        self.links = links
        self.store = store
        self._made: set[date] = set()
        self._rows: list[tuple[int, date, bytes]] = []
        self.written = settings.feed_storage != "ledger"
        """Whether the day writes feed items; else feeds are made from the ledger."""
        if settings.feed_storage == "database" and store is None:
            raise ValueError("feeds in the database are written through the store")

    def add(self, sub: Subscriber, day: date, items: list[bytes]) -> None:
        """Write ``items`` (this digest's rendered feed items) as the reader's
        fragment of ``day``, replacing one written before (a rerun)."""
        if self.store is not None and self.settings.feed_storage == "database":
            self._rows.append((sub.id, day, b"".join(items)))
            return
        path = fragment(self.settings, self.links, sub.id, day)
        if day not in self._made:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._made.add(day)
        _write_atomically(path, b"".join(items))

    def flush(self, now: datetime) -> None:
        """Write the fragments added since the last flush (database storage)."""
        if self._rows and self.store is not None:
            self.store.put_fragments(self._rows, now=now)
            self._rows = []
