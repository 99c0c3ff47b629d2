"""Collect runs end to end: real files, a real HTTP server on loopback, real SQLite."""

from __future__ import annotations

from pathlib import Path

from digest.collect import collect
from digest.settings import HttpSettings, SourceSettings
from digest.sources import FileSource, HttpSource, make_source
from digest.store import Store
from tests.conftest import FIXTURES, NOW
from tests.feed_server import FeedServer, Route

FAST = HttpSettings(timeout=0.5, retries=1, backoff=0.0)
ARXIV_RSS = (
    FIXTURES
    / "feeds/arxiv-rss/rss_arxiv_org_cs.LG+cs.AI+cs.CL+stat.ML_2026-09-24_trimmed4items.xml"
)
LEGACY_RSS = FIXTURES / "feeds/arxiv-rss/legacy_export_rss_rdf_cs_2018-08-30.rdf"
HTML_PAGE = FIXTURES / "feeds/other/html-error-page-served-as-feed.xml"
HF_PAGES = sorted((FIXTURES / "hf-pages").glob("page-*.txt"))


def test_second_fetch_is_conditional_and_adds_an_empty_batch(
    store: Store, feed_server: FeedServer
) -> None:
    url = feed_server.serve("/rss", Route(ARXIV_RSS.read_bytes(), etag='"abc"'))
    source = HttpSource("arxiv", url, FAST)
    first = collect(store, [source], now=NOW)
    assert first.batch.size == 4 and first.sources[0].new == 4
    second = collect(store, [source], now=NOW)
    assert feed_server.requests[-1].headers["If-None-Match"] == '"abc"'
    assert second.sources[0].not_modified
    assert second.batch.size == 0
    assert store.count_papers() == 4


def test_a_500_then_200_is_retried_within_one_collect(
    store: Store, feed_server: FeedServer
) -> None:
    url = feed_server.serve("/rss", Route(ARXIV_RSS.read_bytes(), script=[500]))
    report = collect(store, [HttpSource("arxiv", url, FAST)], now=NOW)
    assert report.failed == () and report.batch.size == 4
    assert len(feed_server.requests) == 2


def test_a_dead_source_is_reported_and_the_others_still_run(
    store: Store, feed_server: FeedServer
) -> None:
    dead = feed_server.serve("/down", Route(b"", script=[503, 503]))
    good = feed_server.serve("/rss", Route(ARXIV_RSS.read_bytes()))
    report = collect(
        store, [HttpSource("dead", dead, FAST), HttpSource("good", good, FAST)], now=NOW
    )
    (failed,) = report.failed
    assert failed.name == "dead" and "503" in (failed.error or "")
    assert report.batch.size == 4
    state = store.source_state("dead")
    assert state is not None and state.last_status == "error" and "503" in (state.last_error or "")


def test_an_html_page_is_not_a_feed_and_changes_nothing(
    store: Store, feed_server: FeedServer
) -> None:
    collect(store, [FileSource("legacy", str(LEGACY_RSS))], now=NOW)
    before = store.papers()
    url = feed_server.serve("/login", Route(HTML_PAGE.read_bytes(), content_type="text/html"))
    report = collect(store, [HttpSource("journal", url, FAST)], now=NOW)
    (failed,) = report.failed
    assert "not a feed" in (failed.error or "")
    assert store.papers() == before


def test_a_plain_text_error_page_is_not_papers_and_changes_nothing(
    store: Store, feed_server: FeedServer
) -> None:
    page = b"Service temporarily unavailable\nPlease try again later.\n"
    url = feed_server.serve("/papers", Route(page, content_type="text/plain"))
    report = collect(store, [HttpSource("hf", url, FAST)], now=NOW)
    (failed,) = report.failed
    assert "not a recognised format" in (failed.error or "")
    assert store.papers() == []


def test_a_missing_file_is_reported_by_name(store: Store, tmp_path: Path) -> None:
    report = collect(store, [FileSource("local", str(tmp_path / "nope.jsonl"))], now=NOW)
    assert report.failed[0].error == f"file not found: {tmp_path / 'nope.jsonl'}"


def test_hf_pages_share_papers_and_each_is_stored_once(store: Store) -> None:
    sources = [FileSource(p.stem, str(p)) for p in HF_PAGES]
    report = collect(store, sources, now=NOW)
    fetched = sum(s.fetched for s in report.sources)
    assert fetched == 76 + 120 + 119
    stored = store.papers()
    assert len({p.title.lower() for p in stored}) == len(stored)
    assert report.batch.size == len(stored) < fetched


def test_collecting_the_same_inputs_twice_gives_an_empty_second_batch(store: Store) -> None:
    sources = [FileSource("legacy", str(LEGACY_RSS)), FileSource("rss", str(ARXIV_RSS))]
    first = collect(store, sources, now=NOW)
    second = collect(store, sources, now=NOW)
    assert first.batch.size == 185 + 4
    assert second.batch.size == 0
    assert {s.new for s in second.sources} == {0}


def test_make_source_picks_http_for_urls_and_files_otherwise() -> None:
    http = make_source(SourceSettings(name="a", location="https://example.org/rss"), FAST)
    local = make_source(SourceSettings(name="b", location="batch.jsonl", format="jsonl"), FAST)
    assert isinstance(http, HttpSource) and isinstance(local, FileSource)
    assert local.format == "jsonl"
