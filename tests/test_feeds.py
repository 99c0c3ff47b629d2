"""Personal feeds of a real day: made from the ledger by default, or written by the
day as fragment files or database rows (``feed_storage``), and served by the web app."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import feedparser

from digest.day.feeds import feed_xml, stored_feed
from digest.day.quiet import NOTHING_COLLECTED
from digest.day.shard import link_maker
from digest.day.sources import collect_sources
from digest.render import Renderer
from digest.settings import Settings, SourceSettings, load_settings
from digest.store import Store
from tests.conftest import FIXTURES, NOW
from tests.day_fixtures import DAY, run
from tests.smtp_server import SmtpServer


def test_an_empty_day_sends_no_email_and_tells_the_feed_why(
    day_store: Store, smtp_settings: Settings, smtp_server: SmtpServer
) -> None:
    smtp_settings = smtp_settings.model_copy(update={"feed_storage": "files"})
    run(day_store, smtp_settings)
    feeds = {p: p.read_bytes() for p in (smtp_settings.data_dir / "feeds").rglob("*.xml")}
    assert len(feeds) == 4
    report = run(day_store, smtp_settings, now=NOW + timedelta(days=1))
    assert report.due == 4 and report.empty == 4 and report.sent == 0
    assert len(smtp_server.messages) == 4
    after = {p: p.read_bytes() for p in (smtp_settings.data_dir / "feeds").rglob("*.xml")}
    assert {p: after[p] for p in feeds} == feeds, "earlier digests are never rewritten"
    notes = [body for p, body in after.items() if p not in feeds]
    assert len(notes) == 4
    assert all(b.count(b"<item>") == 1 and NOTHING_COLLECTED.encode() in b for b in notes)


def test_rss_only_readers_get_a_feed_and_no_email(
    day_store: Store, smtp_settings: Settings, smtp_server: SmtpServer
) -> None:
    smtp_settings = smtp_settings.model_copy(update={"feed_storage": "files"})
    sub = day_store.subscriber("bob@example.org")
    day_store.update_subscriber(sub.id, channels=["rss"])
    report = run(day_store, smtp_settings)
    assert report.sent == 3 and report.feed_only == 1
    assert "bob@example.org" not in {m["To"].addresses[0].addr_spec for m in smtp_server.messages}
    links = link_maker(smtp_settings)
    xml, updated = feed_xml(day_store, smtp_settings, sub, links=links)
    parsed = feedparser.parse(xml)
    assert parsed.bozo == 0 and len(parsed.entries) == 4 and updated is not None
    stored = stored_feed(smtp_settings, links, sub.id)
    assert stored is not None
    served = stored.xml(Renderer(smtp_settings), smtp_settings, links, sub)
    assert [e.id for e in feedparser.parse(served).entries] == [e.id for e in parsed.entries]


def test_the_next_days_feed_holds_both_digests(
    day_store: Store, smtp_settings: Settings, smtp_server: SmtpServer
) -> None:
    smtp_settings = smtp_settings.model_copy(update={"feed_storage": "files"})
    run(day_store, smtp_settings)
    collect_sources(
        day_store,
        smtp_settings,
        [SourceSettings(name="next", location=str(FIXTURES / "batches" / "2026-07-01.jsonl"))],
        now=NOW + timedelta(days=1),
    )
    run(day_store, smtp_settings, now=NOW + timedelta(days=1))
    sub = day_store.subscriber("ada@example.org")
    assert sub is not None
    links = link_maker(smtp_settings)
    stored = stored_feed(smtp_settings, links, sub.id)
    assert stored is not None and len(stored.stamps) == 2
    written = feedparser.parse(stored.xml(Renderer(smtp_settings), smtp_settings, links, sub))
    days = {e.id.split(":")[1] for e in written.entries}
    assert days == {str(DAY), str(DAY + timedelta(days=1))}
    rebuilt, _ = feed_xml(day_store, smtp_settings, sub, links=links)
    assert [e.id for e in feedparser.parse(rebuilt).entries] == [e.id for e in written.entries]


def test_a_collect_deletes_feed_fragments_no_feed_can_show(
    settings: Settings, store: Store
) -> None:
    from digest.day.sources import adhoc_sources

    days = settings.data_dir / "feeds" / "days"
    old = days / "2026-08-01" / "t.xml"  # more than digest_history (10) weeks back
    kept = days / "2026-10-01" / "t.xml"
    for path in (old, kept):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"<item/>")
    batch = str(FIXTURES / "batches" / "2026-06-30.jsonl")
    collect_sources(store, settings, adhoc_sources([batch], None), now=datetime(2026, 12, 1, 6))
    assert not old.parent.exists()
    assert kept.read_bytes() == b"<item/>"


def test_feeds_kept_in_the_database_are_served_by_a_web_app_on_any_machine(
    day_store: Store, smtp_settings: Settings, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from digest.day.feeds import prune_fragments
    from digest.web import create_app

    here = smtp_settings.model_copy(update={"feed_storage": "database"})
    run(day_store, here)
    collect_sources(
        day_store,
        here,
        [SourceSettings(name="next", location=str(FIXTURES / "batches" / "2026-07-01.jsonl"))],
        now=NOW + timedelta(days=1),
    )
    run(day_store, here, now=NOW + timedelta(days=1))
    assert not (here.data_dir / "feeds").exists()
    elsewhere = load_settings(
        data_dir=tmp_path / "elsewhere",
        database_url=here.db_url,
        secret_key="test-secret-" + "x" * 20,
        web={"base_url": "https://digest.example.org"},
        feed_storage="database",
    )
    other = Store.open(elsewhere.db_url)
    sub = other.subscriber("ada@example.org")
    assert sub is not None
    url = link_maker(elsewhere).feed(sub.id).removeprefix("https://digest.example.org")
    app = create_app(elsewhere, store=other, clock=lambda: NOW + timedelta(days=1))
    with TestClient(app, base_url="https://digest.example.org") as client:
        served = client.get(url)
        assert served.status_code == 200
        days = {e.id.split(":")[1] for e in feedparser.parse(served.content).entries}
        assert days == {str(DAY), str(DAY + timedelta(days=1))}
        again = client.get(url, headers={"If-None-Match": served.headers["etag"]})
        assert again.status_code == 304
    rebuilt, _ = feed_xml(other, elsewhere, sub, links=link_maker(elsewhere))
    assert [e.id for e in feedparser.parse(rebuilt).entries] == [
        e.id for e in feedparser.parse(served.content).entries
    ]
    assert prune_fragments(elsewhere, DAY + timedelta(weeks=10, days=1), other) == 4
    assert stored_feed(elsewhere, link_maker(elsewhere), sub.id, store=other) is not None
    assert prune_fragments(elsewhere, DAY + timedelta(weeks=11), other) == 4
    assert stored_feed(elsewhere, link_maker(elsewhere), sub.id, store=other) is None
    other.close()
