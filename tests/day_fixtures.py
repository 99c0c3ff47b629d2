"""The day's shared fixtures: a store holding the fixture batch, its text model and
four readers, settings that send to the loopback SMTP server (a test module may give
its own ``smtp_settings``), and ``run``, the day with no waiting between retries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from digest.day.run import DayReport, run_day
from digest.day.shard import open_store
from digest.day.sources import collect_sources
from digest.models import Keyword, Profile
from digest.score.textmodel import TextModel
from digest.settings import Settings, SourceSettings, load_settings
from digest.sources.formats import parse
from digest.store import Store
from tests.conftest import FIXTURES, NOW

if TYPE_CHECKING:  # a plugin: importing the server here would skip its assert rewriting
    from tests.smtp_server import SmtpServer

BATCH = FIXTURES / "batches" / "2026-06-30.jsonl"
DAY = NOW.date()
READERS = {
    "ada@example.org": Profile(
        name="language models", keywords=[Keyword(phrase="language model")], max_papers=5
    ),
    "bob@example.org": Profile(name="vision", categories=["cs.CV"], max_papers=4),
    "cy@example.org": Profile(name="robots", keywords=[Keyword(phrase="robot")], max_papers=3),
    "dee@example.org": Profile(name="graphs", keywords=[Keyword(phrase="graph")], max_papers=3),
}


@pytest.fixture(scope="module")
def model_blob() -> bytes:
    """The text model of the fixture batch, fitted once for the whole module."""
    papers = parse(BATCH.read_bytes(), source="batch").papers
    return TextModel.fit(papers).to_bytes()


@pytest.fixture
def day_store(smtp_settings: Settings, model_blob: bytes) -> Iterator[Store]:
    store = open_store(smtp_settings)
    collect_sources(
        store, smtp_settings, [SourceSettings(name="batch", location=str(BATCH))], now=NOW
    )
    store.put_model(model_blob, now=NOW)
    for email, profile in READERS.items():
        sub = store.add_subscriber(email, now=NOW, status="active", send_hour=6)
        store.save_profiles(sub.id, [profile], now=NOW)
    yield store
    store.close()


@pytest.fixture
def smtp_settings(tmp_path: Path, smtp_server: SmtpServer, database_url: str | None) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key="test-secret-" + "x" * 20,
        web={"base_url": "https://digest.example.org"},
        mail={
            "mailer": "smtp",
            "from_address": "digest@example.org",
            "retries": 2,
            "retry_backoff": 0,
        },
        smtp={"host": smtp_server.host, "port": smtp_server.port, "security": "plain"},
    )


def no_sleep(_: float) -> None:
    pass


def run(store: Store, settings: Settings, **kw: object) -> DayReport:
    kw.setdefault("now", NOW)
    kw.setdefault("workers", 1)
    return run_day(store, settings, sleep=no_sleep, **kw)  # type: ignore[arg-type]
