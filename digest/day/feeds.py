"""Personal RSS feeds: written by the day, read by the web app.

The day writes each digest's rendered feed items once, as a fragment
``feeds/days/<day>/<feed token>.xml``; it never reads or rewrites an older digest, so
its cost does not grow with a feed's history. The web app serves a feed by joining the
reader's last ``digest_history`` fragments inside the feed page, and answers a
conditional GET from the fragments' sizes and times alone. Day folders older than
any feed can show are deleted after each collect. A reader with no fragment
yet (digests recorded by an older version) gets a feed built from the ledger.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from digest.links import LinkMaker
from digest.models import Digest, DigestSection, Paper, ScoredPaper, Subscriber
from digest.render import Renderer
from digest.settings import Settings
from digest.store import Item, Store
from digest.store.ledger import DEFERRED, FAILED, FEED_ONLY, PENDING, SENDING, SENT


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


def feed_digests(
    store: Store, subscriber: Subscriber, settings: Settings, links: LinkMaker
) -> tuple[list[Digest], list[datetime]]:
    """The reader's last ``digest_history`` recorded digests, newest first, and when
    each was sent (or decided)."""
    recent = [
        d
        for d in store.recent_deliveries(subscriber.id, settings.digest_history)
        if d.status in (SENT, FEED_ONLY, FAILED, DEFERRED, SENDING, PENDING)
    ]
    items = store.items(d.id for d in recent)
    papers = store.get_papers(i.paper_id for its in items.values() for i in its)
    shared = links.links(subscriber.id)
    digests = [
        Digest(subscriber.email, d.day, sections(items[d.id], papers), shared) for d in recent
    ]
    times = [d.sent_at or datetime.combine(d.day, datetime.min.time()) for d in recent]
    return digests, times


def feed_xml(
    store: Store,
    settings: Settings,
    sub: Subscriber,
    *,
    links: LinkMaker,
    renderer: Renderer | None = None,
) -> tuple[bytes, datetime | None]:
    """The personal feed built from the ledger, and when it last changed (None
    before the first digest)."""
    renderer = renderer or Renderer(settings)
    digests, times = feed_digests(store, sub, settings, links)
    entries = [(t, b"".join(renderer.feed_items(d))) for d, t in zip(digests, times, strict=True)]
    return _page(renderer, settings, links, sub, entries), max(times, default=None)


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
    """A reader's fragments, newest first, as (path, size, mtime_ns) — enough for the
    validators without reading a byte."""

    files: tuple[tuple[Path, int, int], ...]

    @property
    def etag(self) -> str:
        key = "|".join(f"{p.parent.name}:{size}:{mtime}" for p, size, mtime in self.files)
        return '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'

    @property
    def modified(self) -> datetime:
        newest = max(mtime for _, _, mtime in self.files)
        return datetime.fromtimestamp(newest / 1e9, UTC).replace(tzinfo=None)

    def xml(
        self, renderer: Renderer, settings: Settings, links: LinkMaker, sub: Subscriber
    ) -> bytes:
        entries = []
        for path, _, mtime in self.files:
            with contextlib.suppress(FileNotFoundError):
                when = datetime.fromtimestamp(mtime / 1e9, UTC).replace(tzinfo=None)
                entries.append((when, path.read_bytes()))
        return _page(renderer, settings, links, sub, entries)


def stored_feed(
    settings: Settings, links: LinkMaker, subscriber_id: int, *, look_back: int = 400
) -> StoredFeed | None:
    """The reader's last ``digest_history`` fragments (days up to ``look_back`` back
    from the newest), or None if they have none."""
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
    return StoredFeed(tuple(found)) if found else None


def prune_fragments(settings: Settings, today: date) -> int:
    """Delete the day folders of fragments no feed can show any more: older than
    ``digest_history`` weeks (a weekly reader's last ``digest_history`` digests lie
    within them). Returns how many day folders went. Run after a collect, off the
    day's path, so that the folder stays bounded by the feeds' length."""
    root = settings.data_dir / "feeds" / "days"
    keep_from = (today - timedelta(weeks=settings.digest_history)).isoformat()
    try:
        days = [d for d in os.listdir(root) if len(d) == 10 and d < keep_from]
    except FileNotFoundError:
        return 0
    for day in days:
        shutil.rmtree(root / day, ignore_errors=True)
    return len(days)


class FeedWriter:
    """Writes each digest's fragment; one per process, like the renderer."""

    def __init__(self, settings: Settings, links: LinkMaker) -> None:
        self.settings = settings
        self.links = links
        self._made: set[date] = set()

    def add(self, sub: Subscriber, day: date, items: list[bytes]) -> Path:
        """Write ``items`` (this digest's rendered feed items) as the reader's
        fragment of ``day``, replacing one written before (a rerun)."""
        path = fragment(self.settings, self.links, sub.id, day)
        if day not in self._made:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._made.add(day)
        _write_atomically(path, b"".join(items))
        return path
