from __future__ import annotations

import gzip
import tracemalloc
import zlib

import pytest

from digest import fetch as fetch_module
from digest.fetch import FetchError, fetch
from digest.settings import HttpSettings
from digest.store import Validators
from tests.feed_server import FeedServer, Route

FAST = HttpSettings(timeout=0.5, retries=2, backoff=0.0)


def test_conditional_get_sends_validators_and_accepts_304(feed_server: FeedServer) -> None:
    url = feed_server.serve(
        "/feed", Route(b"<rss/>", etag='"v1"', last_modified="Wed, 18 Nov 2026 06:00:00 GMT")
    )
    first = fetch(url, http=FAST)
    assert (first.status, first.body) == (200, b"<rss/>")
    assert first.validators == Validators('"v1"', "Wed, 18 Nov 2026 06:00:00 GMT")
    second = fetch(url, http=FAST, validators=first.validators)
    assert second.not_modified
    sent = feed_server.requests[-1].headers
    assert sent["If-None-Match"] == '"v1"'
    assert sent["If-Modified-Since"] == "Wed, 18 Nov 2026 06:00:00 GMT"


def test_user_agent_names_the_product(feed_server: FeedServer) -> None:
    fetch(feed_server.serve("/f", Route(b"x")), http=FAST)
    assert feed_server.requests[0].headers["User-Agent"].startswith("digest/")


def test_a_500_is_retried_then_succeeds(feed_server: FeedServer) -> None:
    url = feed_server.serve("/flaky", Route(b"ok", script=[500]))
    assert fetch(url, http=FAST).body == b"ok"
    assert len(feed_server.requests) == 2


def test_a_timeout_is_retried_then_succeeds(feed_server: FeedServer) -> None:
    feed_server.slow_seconds = 1.5
    url = feed_server.serve("/slow", Route(b"ok", script=["slow"]))
    assert fetch(url, http=FAST).body == b"ok"


def test_persistent_500_fails_after_all_retries(feed_server: FeedServer) -> None:
    url = feed_server.serve("/down", Route(b"", script=[503, 503, 503]))
    with pytest.raises(FetchError, match=r"HTTP 503.*tried 3 times"):
        fetch(url, http=FAST)


def test_a_404_is_not_retried(feed_server: FeedServer) -> None:
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(feed_server.url + "/missing", http=FAST)
    assert len(feed_server.requests) == 1


def test_retries_back_off_exponentially(feed_server: FeedServer) -> None:
    url = feed_server.serve("/down", Route(b"", script=[500, 500, 500, 500]))
    waits: list[float] = []
    with pytest.raises(FetchError):
        fetch(url, http=HttpSettings(retries=3, backoff=0.5, timeout=1), sleep=waits.append)
    assert waits == [0.5, 1.0, 2.0]


def test_an_answer_that_decodes_past_the_limit_is_refused_before_it_is_all_read(
    feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch_module, "MAX_DOWNLOAD", 2**20)
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = b"".join(packer.compress(b"\n" * 2**20) for _ in range(64)) + packer.flush()
    url = feed_server.serve("/bomb.xml", Route(bomb, encoding="gzip"))
    tracemalloc.start()
    try:
        with pytest.raises(FetchError, match="larger than 1 MiB"):
            fetch(url, http=FAST)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20
    small = feed_server.serve("/small.xml", Route(zlib.compress(b"<rss/>"), encoding="deflate"))
    assert fetch(small, http=FAST).body == b"<rss/>"
    two = gzip.compress(b"<rss>") + gzip.compress(b"</rss>")  # two gzip members
    assert fetch(feed_server.serve("/two.xml", Route(two, encoding="gzip")), http=FAST).body == (
        b"<rss></rss>"
    )
