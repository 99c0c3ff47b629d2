"""Bounces and complaints, as real servers send them, read from a Maildir into the
suppression list; the next day skips whom they name."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from digest.bounces import read_report
from digest.day.plan import find_due, plan_day
from digest.day.returns import read_returns
from digest.links import LinkMaker
from digest.settings import Settings
from digest.store import Store
from digest.store.ledger import CANCELLED
from digest.tokens import Tokens
from tests.conftest import FIXTURES, NOW
from tests.imap_server import ImapServer
from tests.smtp_server import SmtpServer
from tests.test_day import READERS, run

pytest_plugins = ["tests.test_day"]

BOUNCES = FIXTURES / "bounces"
SECRET = "test-secret-" + "x" * 20


def report_for(name: str, links: LinkMaker, subscriber_id: int, email: str) -> bytes:
    """A fixture as it would come back for this reader: their return path and links."""
    local, _, domain = email.partition("@")
    text = (BOUNCES / name).read_text()
    for key, value in {
        "{{RETURN_PATH}}": links.return_path(subscriber_id) or "",
        "{{UNSUBSCRIBE}}": links.unsubscribe(subscriber_id),
        "{{READER_LOCAL}}": local,
        "{{READER_DOMAIN}}": domain,
        "{{READER}}": email,
    }.items():
        text = text.replace(key, value)
    return text.encode()


@pytest.fixture
def links() -> LinkMaker:
    return LinkMaker("https://digest.example.org", Tokens(SECRET), "bounces@example.org")


@pytest.mark.parametrize(
    ("name", "kind", "reason"),
    [
        ("postfix-user-unknown.eml", "hard", "5.1.1 smtp; 550 5.1.1"),
        ("gmail-no-such-user.eml", "hard", "5.1.1 smtp; 550-5.1.1 The email account"),
        ("outlook-recipient-not-found.eml", "hard", "5.1.10 smtp;550 5.1.10 RESOLVER.ADR"),
        ("exim-plain.eml", "hard", "550 5.1.1 <zoe@example.com>: mailbox unavailable"),
        ("mailbox-full.eml", "soft", "5.2.2 smtp; 552 5.2.2"),
        ("delayed.eml", "soft", "4.4.1 X-Postfix; connect to mx.example.com"),
        ("arf-abuse.eml", "complaint", "marked as abuse at the mail provider (SomeGenerator/1.0)"),
        ("arf-redacted.eml", "complaint", "marked as abuse"),
    ],
)
def test_real_reports_name_their_reader_and_say_why(
    links: LinkMaker, name: str, kind: str, reason: str
) -> None:
    reading = read_report(report_for(name, links, 42, "zoe@example.com"), links.tokens)
    assert (reading.kind, reading.subscriber_id) == (kind, 42)
    assert reading.reason.startswith(reason)
    assert reading.report_id.startswith("<") or reading.report_id.startswith("sha256:")


def test_what_is_no_bounce_or_names_nobody_is_left_alone(links: LinkMaker) -> None:
    auto_reply = read_report(
        report_for("out-of-office.eml", links, 42, "zoe@example.com"), links.tokens
    )
    assert auto_reply.kind is None
    forged = read_report(report_for("forged.eml", links, 42, "zoe@example.com"), links.tokens)
    assert forged.kind == "hard" and forged.subscriber_id is None
    # a genuine return path of another installation (another secret) names nobody here
    theirs = LinkMaker("https://x.example", Tokens("another-secret-" + "y" * 20), "b@x.example")
    stranger = read_report(
        report_for("postfix-user-unknown.eml", theirs, 42, "z@x.example"), links.tokens
    )
    assert stranger.subscriber_id is None


def drop(maildir: Path, name: str, data: bytes) -> None:
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    (maildir / "tmp" / name).write_bytes(data)
    os.replace(maildir / "tmp" / name, maildir / "new" / name)


@pytest.fixture
def bounce_settings(smtp_settings: Settings, tmp_path: Path) -> Settings:
    return smtp_settings.model_copy(
        update={
            "mail": smtp_settings.mail.model_copy(update={"bounce_address": "bounces@example.org"}),
            "bounces": smtp_settings.bounces.model_copy(update={"maildir": tmp_path / "bounces"}),
        }
    )


def test_a_bounce_in_the_maildir_suppresses_and_the_next_day_skips_them(
    day_store: Store, bounce_settings: Settings, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    first = run(day_store, bounce_settings)
    assert first.sent == len(READERS)
    # the bounce comes back to the return path the message went out with
    ada = day_store.subscriber("ada@example.org")
    bob = day_store.subscriber("bob@example.org")
    assert ada is not None and bob is not None
    by_reader = {e.rcpt_tos[0]: e.mail_from for e in smtp_server.envelopes}
    maildir = tmp_path / "bounces"
    links = LinkMaker("https://digest.example.org", Tokens(SECRET), "bounces@example.org")
    hard = report_for("postfix-user-unknown.eml", links, ada.id, ada.email)
    assert by_reader[ada.email].encode() in hard
    drop(maildir, "1763622003.M1P1.mx", hard)
    drop(maildir, "1763622004.M2P1.mx", report_for("arf-abuse.eml", links, bob.id, bob.email))
    drop(maildir, "1763622005.M3P1.mx", report_for("out-of-office.eml", links, bob.id, bob.email))

    later = NOW + timedelta(days=1)
    returns = read_returns(day_store, bounce_settings, now=later)
    assert returns.read == 3 and returns.ignored == 1 and returns.error is None
    assert sorted((e, k) for e, k, _ in returns.suppressed) == [
        ("ada@example.org", "hard"),
        ("bob@example.org", "complaint"),
    ]
    assert sorted(os.listdir(maildir / "new")) == []
    assert all(n.endswith(":2,S") for n in os.listdir(maildir / "cur"))
    why = day_store.suppression(ada.id)
    assert why is not None and why.kind == "hard" and "User unknown" in why.reason
    assert day_store.subscriber(ada.id).status == "suppressed"  # type: ignore[union-attr]

    # read again (nothing unread), and the same report once more: counted once
    assert read_returns(day_store, bounce_settings, now=later).read == 0
    drop(maildir, "again.M4P1.mx", hard)
    assert read_returns(day_store, bounce_settings, now=later).suppressed == []

    smtp_server.envelopes.clear()
    due = {d.subscriber_id for d in find_due(day_store, now=later)}
    assert ada.id not in due and bob.id not in due and len(due) == len(READERS) - 2
    second = run(day_store, bounce_settings, now=later)
    assert second.plan.planned == len(READERS) - 2
    planned = {email for email, _ in day_store.ledger(day=later.date())}
    assert planned == set(READERS) - {ada.email, bob.email}


def test_soft_bounces_suppress_at_the_limit_within_the_window(
    day_store: Store, bounce_settings: Settings
) -> None:
    cy = day_store.subscriber("cy@example.org")
    assert cy is not None
    links = LinkMaker("https://digest.example.org", Tokens(SECRET), "bounces@example.org")
    raw = report_for("mailbox-full.eml", links, cy.id, cy.email)
    maildir = bounce_settings.bounces.maildir
    assert maildir is not None
    days = [NOW, NOW + timedelta(days=20), NOW + timedelta(days=25), NOW + timedelta(days=30)]
    outcomes = []
    for n, when in enumerate(days):
        drop(maildir, f"full{n}.mx", raw.replace(b"<2026112007", f"<{n}2026112007".encode()))
        got = read_returns(day_store, bounce_settings, now=when)
        outcomes.append((got.soft, len(got.suppressed)))
    # the first falls out of the 14-day window; the third within it suppresses
    assert outcomes == [(1, 0), (1, 0), (1, 0), (0, 1)]
    why = day_store.suppression(cy.id)
    assert why is not None and why.kind == "soft"
    assert why.reason.startswith("3 soft bounces in 14 days, the last: 5.2.2")


def test_a_mailbox_that_is_not_there_is_reported(
    day_store: Store, bounce_settings: Settings
) -> None:
    got = read_returns(day_store, bounce_settings, now=NOW)
    assert got.error is not None and "is not a Maildir" in got.error


def test_the_bounce_mailbox_can_be_a_folder_on_an_imap_server(
    day_store: Store, smtp_settings: Settings, imap_server: ImapServer
) -> None:
    settings = smtp_settings.model_copy(
        update={
            "mail": smtp_settings.mail.model_copy(update={"bounce_address": "bounces@example.org"}),
            "bounces": smtp_settings.bounces.model_copy(
                update={
                    "imap_host": imap_server.host,
                    "imap_port": imap_server.port,
                    "imap_security": "plain",
                    "imap_username": imap_server.user,
                    "imap_password": SecretStr(imap_server.password),
                }
            ),
        }
    )
    dee = day_store.subscriber("dee@example.org")
    assert dee is not None
    links = LinkMaker("https://digest.example.org", Tokens(SECRET), "bounces@example.org")
    imap_server.append(report_for("outlook-recipient-not-found.eml", links, dee.id, dee.email))
    imap_server.append(report_for("out-of-office.eml", links, dee.id, dee.email))
    got = read_returns(day_store, settings, now=NOW)
    assert got.error is None and (got.read, got.ignored) == (2, 1)
    assert [(e, k) for e, k, _ in got.suppressed] == [("dee@example.org", "hard")]
    assert all("\\Seen" in flags for flags in imap_server.flags())
    assert read_returns(day_store, settings, now=NOW).read == 0

    wrong = settings.bounces.model_copy(update={"imap_password": SecretStr("nope")})
    refused = read_returns(day_store, settings.model_copy(update={"bounces": wrong}), now=NOW)
    assert refused.error is not None and refused.error.startswith(
        f"bounce mailbox imap://{imap_server.host}/INBOX: IMAP {imap_server.host}:"
    )


def test_a_run_reads_the_mailbox_first_and_cancels_what_was_planned_for_them(
    day_store: Store, bounce_settings: Settings, smtp_server: SmtpServer
) -> None:
    plan_day(day_store, bounce_settings, now=NOW)  # an earlier run planned, then died
    dee = day_store.subscriber("dee@example.org")
    assert dee is not None
    links = LinkMaker("https://digest.example.org", Tokens(SECRET), "bounces@example.org")
    maildir = bounce_settings.bounces.maildir
    assert maildir is not None
    drop(maildir, "arf.M1P1.mx", report_for("arf-redacted.eml", links, dee.id, dee.email))
    report = run(day_store, bounce_settings)
    assert report.returns is not None
    assert [(e, k) for e, k, _ in report.returns.suppressed] == [("dee@example.org", "complaint")]
    assert report.sent == len(READERS) - 1 and report.written.cancelled == 1
    assert {d.status for d in day_store.deliveries(subscriber_id=dee.id)} == {CANCELLED}
    assert dee.email not in {e.rcpt_tos[0] for e in smtp_server.envelopes}


def test_deleting_a_reader_forgets_their_bounces_and_suppression(
    day_store: Store, bounce_settings: Settings
) -> None:
    bob = day_store.subscriber("bob@example.org")
    assert bob is not None
    args = {"kind": "hard", "reason": "5.1.1", "now": NOW, "soft_limit": 3, "soft_days": 14}
    assert day_store.record_report(bob.id, report_id="<a@mx>", **args) == "suppressed"  # type: ignore[arg-type]
    assert day_store.record_report(bob.id, report_id="<a@mx>", **args) == "seen"  # type: ignore[arg-type]
    assert [s.email for s in day_store.suppressions()] == [bob.email]
    day_store.delete_subscriber(bob.id, now=NOW)
    assert day_store.suppressions() == []
    assert day_store.record_report(bob.id, report_id="<b@mx>", **args) == "seen"  # type: ignore[arg-type]
    assert day_store.suppression(bob.id) is None
