"""The whole day against a real SQLite file and a real SMTP server on loopback."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path

import feedparser
import pytest

from digest.day.feeds import feed_xml, stored_feed
from digest.day.plan import find_due, plan_day
from digest.day.quiet import NOTHING_COLLECTED
from digest.day.run import DayReport, run_day
from digest.day.shard import link_maker
from digest.day.sources import collect_sources
from digest.mime import Message
from digest.render import Renderer
from digest.settings import Settings, SourceSettings, load_settings
from digest.store import Store
from digest.store.ledger import CANCELLED, FAILED, SENDING, SENT
from tests.conftest import FIXTURES, NOW
from tests.day_fixtures import READERS
from tests.smtp_server import SmtpServer

DAY = NOW.date()


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


def links_in(text: str) -> list[str]:
    return re.findall(r"https?://[^\s\"'<>]+", text)


def test_a_day_sends_one_well_formed_message_per_reader(
    day_store: Store, smtp_settings: Settings, smtp_server: SmtpServer
) -> None:
    report = run(day_store, smtp_settings)
    assert report.sent == 4 and not report.failed
    got = {m["To"].addresses[0].addr_spec: m for m in smtp_server.messages}
    assert set(got) == set(READERS)
    for email, msg in got.items():
        assert msg.get_content_type() == "multipart/alternative"
        parts = [p.get_content_type() for p in msg.iter_parts()]
        assert parts == ["text/plain", "text/html"]
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        for needle in ("{{", "}}", "{%", "%}", "JINJATAG"):
            assert needle not in text and needle not in html
        assert msg["Message-ID"].endswith("@example.org>")
        assert msg["Date"] and msg["List-Id"] == "digest <daily.digest.localhost>"
        unsubscribe = msg["List-Unsubscribe"].strip().strip("<>")
        assert unsubscribe.startswith("https://digest.example.org/u/")
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert unsubscribe in html and unsubscribe in text
        assert READERS[email].name in msg["Subject"]
        # the same papers in both parts
        stored = day_store.items(
            d.id for d in day_store.deliveries(subscriber_id=day_store.subscriber(email).id)
        )
        titles = [
            day_store.get_papers([i.paper_id])[i.paper_id].title
            for its in stored.values()
            for i in its
        ]
        assert 0 < len(titles) <= READERS[email].max_papers
        for title in titles:
            assert title[:40] in " ".join(text.split())
        # every link is absolute; every feedback link signed for this reader
        feedback = [u for u in links_in(html) if "/fb/" in u]
        assert len(feedback) == 2 * len(titles)
        assert len({u.split("/fb/")[1].split("/")[0] for u in feedback}) == 1
        assert "style=" in html and "<style>" in html and "@media" in html
    # on the wire: CRLF only, UTF-8 bodies as they are (the server offers 8BITMIME)
    for envelope in smtp_server.envelopes:
        assert not envelope.raw.isascii()
        assert b"\n" not in envelope.raw.replace(
            b"\r\n", b""
        ) and b"\r" not in envelope.raw.replace(b"\r\n", b"")
        assert b"Content-Transfer-Encoding: 8bit" in envelope.raw


def test_a_server_without_8bitmime_gets_quoted_printable(
    day_store: Store, smtp_settings: Settings, smtp_server_7bit: SmtpServer
) -> None:
    settings = smtp_settings.model_copy(
        update={"smtp": smtp_settings.smtp.model_copy(update={"port": smtp_server_7bit.port})}
    )
    report = run(day_store, settings)
    assert report.sent == 4 and not report.failed
    for envelope, message in zip(
        smtp_server_7bit.envelopes, smtp_server_7bit.messages, strict=True
    ):
        assert "BODY=8BITMIME" not in envelope.mail_options  # it would be refused
        assert envelope.raw.isascii()
        html = message.get_body(("html",))
        assert html["Content-Transfer-Encoding"] == "quoted-printable"
        assert " match — " in html.get_content() and "👍" in html.get_content()


def test_rerunning_the_day_sends_nothing_new(
    day_store: Store, smtp_settings: Settings, smtp_server: SmtpServer
) -> None:
    assert run(day_store, smtp_settings).sent == 4
    again = run(day_store, smtp_settings)
    assert again.sent == 0 and again.due == 0
    assert len(smtp_server.messages) == 4


class CrashingMailer:
    """Delivers through ``inner`` until ``after`` messages, then dies mid-send."""

    def __init__(self, inner: object, after: int) -> None:
        self.inner, self.after, self.count = inner, after, 0

    def __enter__(self) -> CrashingMailer:
        self.inner.__enter__()  # type: ignore[attr-defined]
        return self

    def __exit__(self, *exc: object) -> None:
        self.inner.__exit__(*exc)  # type: ignore[attr-defined]

    def send(self, message: Message) -> None:
        if self.count == self.after:
            raise KeyboardInterrupt("power cut")
        self.count += 1
        self.inner.send(message)  # type: ignore[attr-defined]


def test_a_crash_after_half_the_sends_and_a_rerun_send_each_digest_once(
    day_store: Store, smtp_settings: Settings, smtp_server: SmtpServer
) -> None:
    from digest.deliver import make_mailer

    with pytest.raises(KeyboardInterrupt):
        run(day_store, smtp_settings, mailer=CrashingMailer(make_mailer(smtp_settings), 2))
    assert len(smtp_server.messages) == 2
    statuses = sorted(d.status for d in day_store.deliveries(day=DAY))
    assert statuses == [SENDING, SENDING, SENT, SENT]
    # an immediate rerun leaves the claimed ones to their owner, alive (this process)
    assert run(day_store, smtp_settings, now=NOW + timedelta(minutes=5)).sent == 0
    # once the claim's lease is over, the interrupted digests go out, once
    assert run(day_store, smtp_settings, now=NOW + timedelta(hours=1)).sent == 2
    assert run(day_store, smtp_settings, now=NOW + timedelta(hours=2)).sent == 0
    received = sorted(m["To"].addresses[0].addr_spec for m in smtp_server.messages)
    assert received == sorted(READERS)
    # a digest sent again keeps its Message-ID, so a receiver can tell it is the same
    expected = {f"<digest.{d.day}.{d.id}@example.org>" for d in day_store.deliveries(day=DAY)}
    assert {str(m["Message-ID"]) for m in smtp_server.messages} == expected
    assert {d.message_id for d in day_store.deliveries(day=DAY)} == expected


def test_a_temporary_refusal_is_retried(
    day_store: Store, smtp_settings: Settings, smtp_server: SmtpServer
) -> None:
    smtp_server.script = [451, 250]
    report = run(day_store, smtp_settings, only="ada@example.org")
    assert report.sent == 1 and not report.failed and not report.deferred
    assert smtp_server.refused[0].startswith("451")
    assert len(smtp_server.messages) == 1


def test_a_permanent_refusal_is_recorded_and_the_others_still_go(
    day_store: Store, smtp_settings: Settings, smtp_server: SmtpServer
) -> None:
    smtp_server.script = [550]
    report = run(day_store, smtp_settings)
    assert report.sent == 3
    assert len(report.failed) == 1 and report.failed[0][1].startswith("550")
    failed = [d for d in day_store.deliveries(day=DAY) if d.status == FAILED]
    assert len(failed) == 1 and "No such user" in (failed[0].error or "")
    assert not report.ok


def test_an_smtp_outage_defers_every_digest_and_loses_nothing(
    day_store: Store, smtp_settings: Settings, smtp_server: SmtpServer
) -> None:
    down = smtp_settings.model_copy(
        update={"smtp": smtp_settings.smtp.model_copy(update={"port": 1})}
    )
    report = run(day_store, down)
    assert report.sent == 0 and len(report.deferred) == 4
    later = run(day_store, smtp_settings, now=NOW + timedelta(hours=1))
    assert later.sent == 4 and len(smtp_server.messages) == 4


def test_a_reader_is_due_only_from_their_local_send_hour(
    day_store: Store, smtp_settings: Settings
) -> None:
    sub = day_store.subscriber("ada@example.org")
    assert sub is not None
    day_store.update_subscriber(sub.id, send_hour=9, timezone="Asia/Tokyo")  # 15:00 there
    day_store.update_subscriber(
        day_store.subscriber("bob@example.org").id, send_hour=7, timezone="America/New_York"
    )  # 01:00 there
    weekly = day_store.subscriber("cy@example.org")
    day_store.update_subscriber(weekly.id, cadence="weekly", weekdays=[(DAY.weekday() + 1) % 7])
    planned = find_due(day_store, now=NOW)
    assert {day_store.subscriber(p.subscriber_id).email for p in planned} == {
        "ada@example.org",
        "dee@example.org",
    }
    tokyo = next(p for p in planned if p.subscriber_id == sub.id)
    assert tokyo.day == date(2026, 11, 20)


def test_papers_come_once_the_next_day_only_new_ones(
    day_store: Store, smtp_settings: Settings, smtp_server: SmtpServer
) -> None:
    run(day_store, smtp_settings)
    first = {
        i.paper_id
        for its in day_store.items(d.id for d in day_store.deliveries()).values()
        for i in its
    }
    collect_sources(
        day_store,
        smtp_settings,
        [SourceSettings(name="next", location=str(FIXTURES / "batches" / "2026-07-01.jsonl"))],
        now=NOW + timedelta(days=1),
    )
    tomorrow = NOW + timedelta(days=1)
    run(day_store, smtp_settings, now=tomorrow)
    second = day_store.deliveries(day=tomorrow.date())
    picked = {i.paper_id for its in day_store.items(d.id for d in second).values() for i in its}
    assert len(second) == 4 and picked and not picked & first


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


def test_dry_run_decides_and_writes_nothing(
    day_store: Store, smtp_settings: Settings, smtp_server: SmtpServer
) -> None:
    report = run(day_store, smtp_settings, dry_run=True)
    assert len(report.previews) == 4 and all(d.size for d in report.previews.values())
    assert day_store.deliveries() == [] and smtp_server.messages == []
    assert all(s.last_batch_id is None for s in day_store.subscribers())


def test_a_reader_who_unsubscribes_before_sending_gets_nothing(
    day_store: Store, smtp_settings: Settings, smtp_server: SmtpServer
) -> None:
    plan_day(day_store, smtp_settings, now=NOW)
    sub = day_store.subscriber("dee@example.org")
    day_store.update_subscriber(sub.id, status="unsubscribed")
    report = run(day_store, smtp_settings)
    assert report.sent == 3 and report.written.cancelled == 1
    assert {d.status for d in day_store.deliveries(subscriber_id=sub.id)} == {CANCELLED}
    assert "dee@example.org" not in {m["To"].addresses[0].addr_spec for m in smtp_server.messages}


def test_a_temporary_refusal_goes_to_the_back_and_no_one_waits_for_it(
    day_store: Store, smtp_settings: Settings, smtp_server: SmtpServer
) -> None:
    smtp_server.script = [451]  # the first reader is refused once
    slept: list[float] = []
    report = run_day(
        day_store, smtp_settings, now=NOW, workers=1, sleep=slept.append, collect_first=False
    )
    assert report.sent == 4 and not report.deferred
    order = [m["To"].addresses[0].addr_spec for m in smtp_server.messages]
    assert order[-1] == "ada@example.org"  # tried again after everyone else
    assert len(slept) == 1  # one pause for the shard, not one per reader


def test_after_a_421_the_connection_is_opened_again(
    day_store: Store, smtp_settings: Settings, smtp_server: SmtpServer
) -> None:
    smtp_server.script = [421]
    report = run(day_store, smtp_settings)
    assert report.sent == 4 and not report.failed and not report.deferred
    assert smtp_server.refused[0].startswith("421")


def test_a_run_where_every_delivery_is_deferred_is_not_ok(
    day_store: Store, smtp_settings: Settings
) -> None:
    down = smtp_settings.model_copy(
        update={"smtp": smtp_settings.smtp.model_copy(update={"port": 1})}
    )
    report = run(day_store, down)
    assert len(report.deferred) == 4 and not report.ok


def test_a_crash_on_a_named_day_long_ago_is_finished_by_the_same_command(
    day_store: Store, smtp_settings: Settings, smtp_server: SmtpServer
) -> None:
    from digest.deliver import make_mailer

    long_ago = DAY - timedelta(days=60)
    with pytest.raises(KeyboardInterrupt):
        run(
            day_store,
            smtp_settings,
            day=long_ago,
            mailer=CrashingMailer(make_mailer(smtp_settings), 1),
        )
    # the claims of this (live) process hold until their lease runs out
    later = run(day_store, smtp_settings, day=long_ago, now=NOW + timedelta(hours=1))
    assert later.due == 0 and later.sent == 3
    assert sorted(m["To"].addresses[0].addr_spec for m in smtp_server.messages) == sorted(READERS)


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


def test_after_a_send_the_preview_shows_the_digest_just_sent(
    day_store: Store, smtp_settings: Settings, smtp_server: SmtpServer
) -> None:
    from digest.day.preview import preview_sections

    run(day_store, smtp_settings)
    email = next(iter(READERS))
    sub = day_store.subscriber(email)
    assert sub is not None and sub.last_batch_id is not None
    sent = {str(m["To"]): m for m in smtp_server.messages}[email]
    shown = preview_sections(day_store, smtp_settings, sub.id, day_store.profiles(sub.id), now=NOW)
    titles = [sp.paper.title for section in shown for sp in section.papers]
    assert titles, "a reader who just got a digest is shown it, not 'no new papers'"
    body = " ".join(sent.get_body(("plain",)).get_content().split())
    assert all(" ".join(t.split())[:40] in body for t in titles[:3])
