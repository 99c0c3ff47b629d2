"""A whole day on the bundled samples, in a throwaway folder, with two demo readers."""

from __future__ import annotations

import mailbox
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path

from digest.accounts import import_subscribers
from digest.day.feeds import stored_feed
from digest.day.preview import preview
from digest.day.run import DayReport, run_day
from digest.day.shard import link_maker, open_store
from digest.day.sources import sample_sources
from digest.models import SourceReport
from digest.profiles import load_subscriber_file
from digest.render import Renderer
from digest.settings import Settings, load_settings
from digest.store import Store


@dataclass(slots=True)
class DemoReport:
    data_dir: Path
    day: DayReport
    outbox: Path
    messages: int
    preview: Path
    feeds: list[Path]


def _write_feeds(store: Store, settings: Settings) -> list[Path]:
    """Each demo reader's feed as the web app would serve it, as a file to open."""
    links = link_maker(settings)
    renderer = Renderer(settings)
    written = []
    for sub in store.subscribers(status="active"):
        found = stored_feed(settings, links, sub.id)
        if found is not None:
            path = settings.data_dir / "previews" / f"{sub.email}.rss"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(found.xml(renderer, settings, links, sub))
            written.append(path)
    return written


def demo(
    folder: Path | None, *, now: datetime, on_source: Callable[[SourceReport], None] | None = None
) -> DemoReport:
    data_dir = folder or Path(tempfile.mkdtemp(prefix="digest-demo-"))
    settings = load_settings(
        data_dir=data_dir,
        secret_key=secrets.token_urlsafe(32),
        sources=[s.model_dump() for s in sample_sources()],
        mail={"from_address": "digest@example.org"},
        day={"workers": 1},
    )
    store = open_store(settings)
    try:
        demo_files = Path(str(resources.files("digest") / "samples" / "demo"))
        import_subscribers(
            store, [load_subscriber_file(p) for p in sorted(demo_files.glob("*.toml"))], now=now
        )
        report = run_day(store, settings, now=now, day=now.date(), on_source=on_source)
        first = store.subscribers(status="active")[0]
        html = preview(store, settings, first.email, now=now) or ""
        feeds = _write_feeds(store, settings)
    finally:
        store.close()
    preview_path = data_dir / "previews" / f"{first.email}.html"
    preview_path.parent.mkdir(parents=True, exist_ok=True)
    preview_path.write_text(html, encoding="utf-8")
    outbox = data_dir / "outbox"
    count = len(mailbox.Maildir(outbox, create=True))
    return DemoReport(data_dir, report, outbox, count, preview_path, feeds)
