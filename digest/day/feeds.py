"""Personal RSS feeds: written by the day, read by the web app.

Each reader's feed is ``feeds/<feed token>.rss``. Each digest's items in it sit
between two XML comments that name the digest's day and time, so that the day adds a
digest by reading the reader's feed back, not the store, and renders no old digest
again. A feed without them (written by an older version, or deleted) is rebuilt from
the ledger once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path

from digest.links import LinkMaker
from digest.models import Digest, DigestSection, Paper, ScoredPaper, Subscriber
from digest.render import Renderer
from digest.settings import Settings
from digest.store import Item, Store
from digest.store.ledger import DEFERRED, FAILED, FEED_ONLY, PENDING, SENDING, SENT

Entry = tuple[date, datetime, bytes]


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
    entries = [
        (d.day, t, b"".join(renderer.feed_items(d))) for d, t in zip(digests, times, strict=True)
    ]
    return _page(renderer, settings, links, sub, entries), max(times, default=None)


def _page(
    renderer: Renderer, settings: Settings, links: LinkMaker, sub: Subscriber, entries: list[Entry]
) -> bytes:
    return renderer.feed(
        email=sub.email,
        self_url=links.feed(sub.id),
        # the site, not a manage link: feeds are cached and shared, manage links expire
        link=settings.web.base_url,
        items=[
            [b"<!--digest %s %s-->" % (d.isoformat().encode(), t.isoformat().encode()), body, _END]
            for d, t, body in entries
        ],
        updated=max((t for _, t, _ in entries), default=None),
    )


def feed_path(settings: Settings, links: LinkMaker, subscriber_id: int) -> Path:
    return settings.data_dir / "feeds" / links.feed(subscriber_id).rsplit("/", 1)[-1]


_START = b"<!--digest "
_END = b"<!--/digest-->"


def _read_entries(path: Path) -> list[Entry] | None:
    """The digests in a feed we wrote, or None without one (or if it is damaged)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    entries: list[Entry] = []
    at = data.find(_START)
    if at < 0:
        return None
    try:
        while at >= 0:
            head = data.index(b"-->", at)
            day, when = data[at + len(_START) : head].split()
            stop = data.index(_END, head)
            entries.append(
                (
                    date.fromisoformat(day.decode()),
                    datetime.fromisoformat(when.decode()),
                    data[head + 3 : stop],
                )
            )
            at = data.find(_START, stop)
    except ValueError:
        return None  # damaged: rebuilt from the ledger
    return entries


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


class FeedWriter:
    """Adds a digest to a reader's feed; one per process, like the renderer."""

    def __init__(
        self, store: Store, settings: Settings, links: LinkMaker, renderer: Renderer
    ) -> None:
        self.store = store
        self.settings = settings
        self.links = links
        self.renderer = renderer
        self.folder = settings.data_dir / "feeds"
        self.folder.mkdir(parents=True, exist_ok=True)

    def add(
        self,
        sub: Subscriber,
        day: date,
        items: list[bytes],
        *,
        now: datetime,
        has_history: bool,
    ) -> Path:
        """Put ``items`` (this digest's rendered feed items) first in the feed,
        replacing an entry of the same day, keeping ``digest_history`` entries."""
        path = feed_path(self.settings, self.links, sub.id)
        entries = _read_entries(path) if has_history else None
        if entries is None:
            entries = self._from_ledger(sub) if has_history else []
        kept = [e for e in entries if e[0] != day]
        entries = [(day, now, b"".join(items)), *kept][: self.settings.digest_history]
        _write_atomically(path, _page(self.renderer, self.settings, self.links, sub, entries))
        return path

    def _from_ledger(self, sub: Subscriber) -> list[Entry]:
        digests, times = feed_digests(self.store, sub, self.settings, self.links)
        return [
            (d.day, t, b"".join(self.renderer.feed_items(d)))
            for d, t in zip(digests, times, strict=True)
        ]
