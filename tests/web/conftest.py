"""Fixtures of the web app's tests: the app in process on a real SQLite store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from digest.day.sources import collect_sources
from digest.settings import Settings, SourceSettings
from digest.store import Store
from digest.tokens import Tokens
from digest.web import create_app
from tests.conftest import NOW
from tests.feed_server import FeedServer, Route
from tests.fitted import install_model
from tests.web.helpers import (
    ARXIV_ANSWER,
    BASE,
    BATCH,
    Clock,
)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def client(settings: Settings, store: Store, clock: Clock) -> Iterator[TestClient]:
    app = create_app(settings, store=store, clock=clock)
    with TestClient(app, base_url=BASE) as c:
        yield c


@pytest.fixture
def papers(store: Store, settings: Settings) -> Store:
    """One real daily arXiv batch in the store, and the text model fitted on it (as
    `digest collect` does)."""
    report = collect_sources(
        store, settings, [SourceSettings(name="batch", location=str(BATCH))], now=NOW
    )
    assert not any(s.error for s in report.sources)
    install_model(store, BATCH, now=NOW)
    return store


@pytest.fixture
def arxiv_api(settings: Settings, feed_server: FeedServer) -> Callable[[], list[list[str]]]:
    """The arXiv API as a loopback server answering a recorded response; gives a
    function that lists the id lists asked of it so far."""
    settings.http.arxiv_api = feed_server.serve(
        "/api/query", Route(ARXIV_ANSWER.read_bytes(), content_type="application/atom+xml")
    )

    def asked() -> list[list[str]]:
        return [
            parse_qs(urlsplit(seen.path).query)["id_list"][0].split(",")
            for seen in feed_server.requests
        ]

    return asked


@pytest.fixture
def tokens(settings: Settings) -> Tokens:
    assert settings.secret_key is not None
    return Tokens(settings.secret_key.get_secret_value())
