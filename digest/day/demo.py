"""A whole day on the bundled samples, in a throwaway folder, with two demo readers.

The demo sends as a real installation would: each message is DKIM-signed, with a
throwaway key made for the demo (its public half and DNS record are written beside
the outbox), and carries its reader's own return path."""

from __future__ import annotations

import mailbox
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from digest.accounts import import_subscribers
from digest.day.feeds import served_feed
from digest.day.preview import preview
from digest.day.run import DayReport, run_day
from digest.day.shard import link_maker, open_store
from digest.day.sources import sample_sources
from digest.models import SourceReport, Status
from digest.profiles import load_subscriber_file
from digest.render import Renderer
from digest.settings import DkimSettings, Settings, load_settings
from digest.signing import load_key, write_key, zone_entry
from digest.store import Store


@dataclass(slots=True)
class DemoReport:
    data_dir: Path
    day: DayReport
    outbox: Path
    messages: int
    preview: Path
    feeds: list[Path]
    dkim_record: Path


def _write_feeds(store: Store, settings: Settings) -> list[Path]:
    """Each demo reader's feed as the web app would serve it, as a file to open."""
    links = link_maker(settings)
    renderer = Renderer(settings)
    written = []
    for sub in store.subscribers(status=Status.ACTIVE):
        found = served_feed(store, settings, sub, links=links, renderer=renderer)
        if found is not None:
            path = settings.data_dir / "previews" / f"{sub.email}.rss"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(found)
            written.append(path)
    return written


DEMO_DOMAIN = "example.org"


def _demo_key(data_dir: Path) -> tuple[Path, Path]:
    """The demo's throwaway signing key (made once per demo folder) and a file beside
    the outbox with what a real domain would publish for it."""
    path = data_dir / "dkim" / "demo.pem"
    key = (
        load_key(DkimSettings(key_file=path, selector="demo"))
        if path.exists()
        else write_key(path, "demo", "rsa")
    )
    assert key is not None
    public = key.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    record = data_dir / "outbox-dkim.txt"
    record.write_text(
        "Every message in outbox/ is DKIM-signed with a key made for this demo.\n"
        f"A real {DEMO_DOMAIN} would publish its public half as this DNS record:\n\n"
        f"{zone_entry(key, DEMO_DOMAIN)}\n\nThe public key:\n\n{public.decode()}",
        encoding="utf-8",
    )
    return path, record


def demo(
    folder: Path | None, *, now: datetime, on_source: Callable[[SourceReport], None] | None = None
) -> DemoReport:
    data_dir = folder or Path(tempfile.mkdtemp(prefix="digest-demo-"))
    key_file, record = _demo_key(data_dir)
    settings = load_settings(
        data_dir=data_dir,
        secret_key=secrets.token_urlsafe(32),
        sources=[s.model_dump() for s in sample_sources()],
        mail={
            "from_address": f"digest@{DEMO_DOMAIN}",
            "bounce_address": f"bounces@{DEMO_DOMAIN}",
        },
        dkim={"key_file": key_file, "selector": "demo"},
        day={"workers": 1},
    )
    store = open_store(settings)
    try:
        demo_files = Path(str(resources.files("digest") / "samples" / "demo"))
        import_subscribers(
            store, [load_subscriber_file(p) for p in sorted(demo_files.glob("*.toml"))], now=now
        )
        report = run_day(store, settings, now=now, day=now.date(), on_source=on_source)
        first = store.subscribers(status=Status.ACTIVE)[0]
        html = preview(store, settings, first.email, now=now) or ""
        feeds = _write_feeds(store, settings)
    finally:
        store.close()
    preview_path = data_dir / "previews" / f"{first.email}.html"
    preview_path.parent.mkdir(parents=True, exist_ok=True)
    preview_path.write_text(html, encoding="utf-8")
    outbox = data_dir / "outbox"
    count = len(mailbox.Maildir(outbox, create=True))
    return DemoReport(data_dir, report, outbox, count, preview_path, feeds, record)
