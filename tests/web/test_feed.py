"""The personal feed and the archive of sent digests."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import feedparser
import time_machine
from fastapi.testclient import TestClient

from digest.day.run import run_day
from digest.settings import Settings
from digest.store import Store
from digest.tokens import Tokens
from digest.web import create_app
from tests.conftest import NOW
from tests.web.helpers import (
    BASE,
    Clock,
    active,
    sent_digest,
)

# feed and archive ---------------------------------------------------------------------


def test_the_feed_has_validators_and_answers_conditional_gets(
    client: TestClient, papers: Store, tokens: Tokens, settings: Settings
) -> None:
    sid = active(papers)
    sent_digest(papers, sid)
    url = f"/f/{tokens.make('feed', sid)}.rss"
    with time_machine.travel(datetime(2026, 11, 20, 7, 0), tick=False):
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/rss+xml; charset=utf-8"
        assert "<rss" in response.text
        etag, modified = response.headers["etag"], response.headers["last-modified"]
        changed = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)  # when the digest was sent
        assert etag.startswith('"') and modified == format_datetime(changed, usegmt=True)
        same = client.get(url, headers={"If-None-Match": etag})
        assert same.status_code == 304 and same.content == b""
        assert same.headers["etag"] == etag
        assert client.get(url, headers={"If-None-Match": f'W/{etag}, "other"'}).status_code == 304
        assert client.get(url, headers={"If-None-Match": "*"}).status_code == 304
        assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 304
        newer = format_datetime(changed + timedelta(days=1), usegmt=True)
        assert client.get(url, headers={"If-Modified-Since": newer}).status_code == 304
        assert client.get(url, headers={"If-None-Match": '"stale"'}).status_code == 200
        older = format_datetime(changed - timedelta(days=300), usegmt=True)
        assert client.get(url, headers={"If-Modified-Since": older}).status_code == 200
        assert client.get(url, headers={"If-Modified-Since": "garbage"}).status_code == 200
        head = client.head(url)
        assert head.status_code == 200 and head.headers["etag"] == etag


def test_a_feed_made_from_the_ledger_needs_nothing_written_by_the_day(
    client: TestClient, papers: Store, tokens: Tokens, settings: Settings
) -> None:
    """By default the day writes no feed file: the feed is made from the ledger when
    fetched, and a conditional GET is answered from the ledger rows alone."""
    sid = active(papers)
    report = run_day(papers, settings, now=NOW, day=NOW.date(), collect_first=False, workers=1)
    assert report.written.sent == 1 and report.written.feeds == 0
    assert not (settings.data_dir / "feeds").exists()
    url = f"/f/{tokens.make('feed', sid)}.rss"
    first = client.get(url)
    assert first.status_code == 200 and b"A Quantum Method of Types" in first.content
    entries = feedparser.parse(first.content).entries
    assert entries and all(e.id.startswith(f"digest:{NOW.date()}:") for e in entries)
    assert "match \u2014 " in entries[0].description
    etag = first.headers["etag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    # the next day's digest (here: nothing new, and a note that says so) changes it
    later = NOW + timedelta(days=1)
    run_day(papers, settings, now=later, day=later.date(), collect_first=False, workers=1)
    fresh = client.get(url, headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["etag"] != etag
    notes = [e for e in feedparser.parse(fresh.content).entries if ":note:" in e.id]
    assert len(notes) == 1 and "No new papers" in notes[0].description


def test_the_feed_is_served_as_the_day_wrote_it_without_rendering(
    papers: Store, tokens: Tokens, settings: Settings, clock: Clock
) -> None:
    settings = settings.model_copy(update={"feed_storage": "files"})
    sid = active(papers)
    report = run_day(papers, settings, now=NOW, day=NOW.date(), collect_first=False, workers=1)
    assert report.written.feeds == 1
    with TestClient(create_app(settings, store=papers, clock=clock), base_url=BASE) as client:
        _check_files(client, settings, tokens, sid)


def _check_files(client: TestClient, settings: Settings, tokens: Tokens, sid: int) -> None:
    (written,) = (settings.data_dir / "feeds").rglob("*.xml")
    url = f"/f/{tokens.make('feed', sid)}.rss"
    assert written.name == url.rsplit("/", 1)[-1].replace(".rss", ".xml")
    first = client.get(url)
    assert first.status_code == 200 and written.read_bytes() in first.content
    etag = first.headers["etag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304

    # the same size and time: the validators cannot tell, and the bytes on disk are served
    stat = written.stat()
    same_size = written.read_bytes().replace(b"Quantum", b"QUANTUM")
    written.write_bytes(same_size)
    os.utime(written, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert same_size in client.get(url).content

    # a new fragment from the day: a new ETag, and the old one no longer matches
    written.write_bytes(b"<item><title>next day</title></item>")
    os.utime(written, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    fresh = client.get(url, headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and b"next day" in fresh.content
    assert fresh.headers["etag"] != etag
    assert client.get(url, headers={"If-None-Match": fresh.headers["etag"]}).status_code == 304

    # no fragment at all (a data folder from an older version): built from the ledger
    written.unlink()
    again = client.get(url)
    assert again.status_code == 200 and b"A Quantum Method of Types" in again.content


def test_the_feed_of_a_new_subscriber_and_of_an_unsubscribed_one(
    client: TestClient, store: Store, tokens: Tokens
) -> None:
    sid = active(store)
    url = f"/f/{tokens.make('feed', sid)}.rss"
    empty = client.get(url)
    assert empty.status_code == 200 and "etag" in empty.headers
    store.update_subscriber(sid, status="unsubscribed")
    assert client.get(url).status_code == 410


def test_the_archive_shows_one_sent_digest_to_its_subscriber_only(
    client: TestClient, papers: Store, tokens: Tokens
) -> None:
    sid = active(papers)
    other = active(papers, "other@example.org")
    delivery = sent_digest(papers, sid)
    page = client.get(f"/a/{tokens.make('archive', sid, delivery)}")
    assert page.status_code == 200
    assert "A Quantum Method of Types" in page.text
    assert "script-src" not in page.headers["content-security-policy"]
    assert client.get(f"/a/{tokens.make('archive', other, delivery)}").status_code == 404
    assert client.get(f"/a/{tokens.make('archive', sid)}").status_code == 404
