"""An empty or short day says why: in the email, the feed and the run's report."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import feedparser
import pytest
import time_machine
from click.testing import CliRunner

from digest.cli import main
from digest.day.feeds import feed_xml
from digest.day.quiet import NOTHING_COLLECTED, note
from digest.day.run import DayReport, run_day
from digest.day.shard import link_maker, open_store
from digest.day.sources import collect_sources
from digest.models import Keyword, Profile
from digest.score.textmodel import TextModel
from digest.settings import Settings, SourceSettings, load_settings
from digest.sources.formats import parse
from digest.store import Store
from tests.conftest import FIXTURES, NOW
from tests.smtp_server import SmtpServer

BATCH = FIXTURES / "batches" / "2026-06-29.jsonl"
MATCHES = Profile(name="language models", keywords=[Keyword(phrase="language model")])
NOTHING = Profile(name="knots", keywords=[Keyword(phrase="knot theory")], min_score=5.0)


@pytest.fixture
def quiet_settings(tmp_path: Path, smtp_server: SmtpServer) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        secret_key="test-secret-" + "x" * 20,
        mail={"mailer": "smtp", "from_address": "digest@example.org", "send_empty": True},
        smtp={"host": smtp_server.host, "port": smtp_server.port, "security": "plain"},
    )


@pytest.fixture
def quiet_store(quiet_settings: Settings) -> Iterator[Store]:
    store = open_store(quiet_settings)
    collect_sources(
        store, quiet_settings, [SourceSettings(name="arxiv", location=str(BATCH))], now=NOW
    )
    store.put_model(TextModel.fit(parse(BATCH.read_bytes(), source="b").papers).to_bytes(), now=NOW)
    for email, profile, channels in (
        ("ada@example.org", MATCHES, ("email", "rss")),
        ("kim@example.org", NOTHING, ("email",)),
        ("rss@example.org", NOTHING, ("rss",)),
    ):
        sub = store.add_subscriber(email, now=NOW, status="active", send_hour=6, channels=channels)
        store.save_profiles(sub.id, [profile], now=NOW)
    yield store
    store.close()


def day(store: Store, settings: Settings, days: int = 0) -> DayReport:
    return run_day(store, settings, now=NOW + timedelta(days=days), workers=1, sleep=lambda _: None)


def bodies(server: SmtpServer) -> dict[str, tuple[str, str, str]]:
    return {
        m["To"].addresses[0].addr_spec: (
            m["Subject"],
            m.get_body(("plain",)).get_content(),
            m.get_body(("html",)).get_content(),
        )
        for m in server.messages
    }


def feed_entries(store: Store, settings: Settings, email: str) -> list[feedparser.FeedParserDict]:
    sub = store.subscriber(email)
    assert sub is not None
    # made from the ledger, as the web app makes it by default
    xml, updated = feed_xml(store, settings, sub, links=link_maker(settings))
    assert updated is not None, f"{email} has no feed"
    parsed = feedparser.parse(xml)
    assert parsed.bozo == 0
    return parsed.entries


def test_nothing_above_the_cut_off_says_so_in_the_email_the_feed_and_the_report(
    quiet_store: Store, quiet_settings: Settings, smtp_server: SmtpServer
) -> None:
    report = day(quiet_store, quiet_settings)
    collected = quiet_store.count_papers()
    expected = note(picked=0, collected=collected, failed=[])
    assert f"None of the {collected} new papers was relevant enough for your profiles" in expected
    subject, text, html = bodies(smtp_server)["kim@example.org"]
    assert subject.startswith("No new papers for you")
    assert f"None of the {collected} new papers" in text
    assert f"None of the {collected} new papers" in html and 'class="note"' in html
    (entry,) = feed_entries(quiet_store, quiet_settings, "rss@example.org")
    assert entry.description == expected
    assert report.explain() == [f"2 readers told: {expected}"]
    # a reader with papers gets no note on a day with nothing to explain
    _, text, _ = bodies(smtp_server)["ada@example.org"]
    assert "relevant enough" not in text and "No new papers" not in text


def test_a_day_with_nothing_collected_says_so(
    quiet_store: Store, quiet_settings: Settings, smtp_server: SmtpServer
) -> None:
    day(quiet_store, quiet_settings)
    smtp_server.messages.clear()
    report = day(quiet_store, quiet_settings, days=1)
    _, text, _ = bodies(smtp_server)["ada@example.org"]
    assert NOTHING_COLLECTED in text
    assert report.explain()[0] == f"3 readers told: {NOTHING_COLLECTED}"
    entries = feed_entries(quiet_store, quiet_settings, "ada@example.org")
    assert entries[0].description == NOTHING_COLLECTED


def test_a_failed_source_is_named_even_on_a_day_with_papers(
    quiet_store: Store, quiet_settings: Settings, smtp_server: SmtpServer
) -> None:
    quiet_store.record_source(
        "journal", "https://journal.example/rss", now=NOW, status="error", error="HTTP 503"
    )
    report = day(quiet_store, quiet_settings)
    _, text, html = bodies(smtp_server)["ada@example.org"]
    warning = "Could not read journal this time, so some new papers may be missing."
    assert warning in " ".join(text.split()) and warning in html
    assert "1. " in text, "the papers still come"
    assert any(line.endswith(warning) for line in report.explain())
    first = feed_entries(quiet_store, quiet_settings, "ada@example.org")[0]
    assert first.description == warning


def test_a_deferred_digest_keeps_its_note_for_the_feed(
    quiet_store: Store, quiet_settings: Settings
) -> None:
    """The mail server is down: every digest is deferred, and each keeps the note
    that a source failed, which the reader's feed (made from the ledger) says."""
    quiet_store.record_source(
        "journal", "https://journal.example/rss", now=NOW, status="error", error="HTTP 503"
    )
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    down = quiet_settings.model_copy(
        update={
            "smtp": quiet_settings.smtp.model_copy(update={"port": port, "timeout": 2}),
            "mail": quiet_settings.mail.model_copy(update={"retries": 0}),
        }
    )
    report = day(quiet_store, down)
    assert report.sent == 0 and len(report.written.deferred) >= 1
    first = feed_entries(quiet_store, down, "ada@example.org")[0]
    assert first.description.startswith("Could not read journal this time")


def test_digest_run_prints_why_digests_were_empty(
    quiet_store: Store, quiet_settings: Settings, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    config = tmp_path / "digest.toml"
    config.write_text(
        f'data_dir = "{quiet_settings.data_dir}"\nsecret_key = "test-secret-{"x" * 20}"\n'
        '[mail]\nmailer = "smtp"\nfrom_address = "digest@example.org"\nsend_empty = true\n'
        f'[smtp]\nhost = "{smtp_server.host}"\nport = {smtp_server.port}\nsecurity = "plain"\n',
        encoding="utf-8",
    )
    with time_machine.travel(NOW, tick=False):
        result = CliRunner().invoke(
            main, ["run", "--no-collect", "--workers", "1", "--config", str(config)]
        )
    assert result.exit_code == 0, result.output
    collected = quiet_store.count_papers()
    assert (
        f"2 readers told: None of the {collected} new papers was relevant enough" in result.output
    )
