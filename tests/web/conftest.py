"""Fixtures of the web app's tests: the app in process on a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from digest import accounts
from digest.day.sources import collect_sources
from digest.models import Paper
from digest.settings import Settings, SourceSettings
from digest.sources.formats import parse
from digest.store import Store
from digest.tokens import Tokens
from digest.web import create_app
from tests.conftest import NOW
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
def arxiv_api(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The arXiv API answered from a recorded response instead of the network; returns
    the id lists asked for."""
    recorded = parse(ARXIV_ANSWER.read_bytes(), source="arxiv-api", format="feed").papers
    asked: list[list[str]] = []

    def fetch(settings: Settings, ids: list[str]) -> list[Paper]:
        asked.append(list(ids))
        return [p for p in recorded if p.id in ids]

    monkeypatch.setattr(accounts, "_fetch_arxiv", fetch)
    return asked


@pytest.fixture
def tokens(settings: Settings) -> Tokens:
    assert settings.secret_key is not None
    return Tokens(settings.secret_key.get_secret_value())
