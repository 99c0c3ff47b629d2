"""The whole day against a real SQLite file and a real SMTP server on loopback."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from digest.day.plan import find_due, plan_day
from digest.day.run import run_day
from digest.day.sources import collect_sources
from digest.mime import Message
from digest.settings import Settings, SourceSettings
from digest.store import Store
from digest.store.ledger import CANCELLED, DEFERRED, FAILED, SENDING, SENT
from tests.conftest import FIXTURES, NOW
from tests.day_fixtures import DAY, READERS, run
from tests.smtp_server import SmtpServer


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


def test_an_outbox_that_cannot_be_written_defers_and_loses_nothing(
    day_store: Store, smtp_settings: Settings
) -> None:
    settings = smtp_settings.model_copy(
        update={"mail": smtp_settings.mail.model_copy(update={"mailer": "maildir"})}
    )
    outbox = settings.data_dir / "outbox"
    (outbox / "tmp").mkdir(parents=True)
    (outbox / "new").write_text("not a folder")  # every rename into new/ fails
    report = run(day_store, settings)
    assert report.sent == 0 and len(report.deferred) == 4
    assert all("cannot write to" in why for _, why in report.deferred)
    assert {d.status for d in day_store.deliveries(day=DAY)} == {DEFERRED}
    (outbox / "new").unlink()
    assert run(day_store, settings, now=NOW + timedelta(hours=1)).sent == 4
    assert run(day_store, settings, now=NOW + timedelta(hours=2)).sent == 0
    delivered = sorted((outbox / "new").iterdir())
    assert len(delivered) == 4
    assert {d.status for d in day_store.deliveries(day=DAY)} == {SENT}
