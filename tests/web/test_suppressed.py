"""A reader whose mail was stopped by a bounce or a complaint: told why on their
manage page, and able to resume."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from digest.day.plan import find_due
from digest.settings import Settings
from digest.signing import load_key, write_key
from digest.store import Store
from digest.tokens import Tokens
from digest.web import create_app
from tests.conftest import NOW
from tests.test_signing import verifies
from tests.web.helpers import BASE, Clock, active, csrf_of, outbox, subscribe


def suppress(store: Store, sid: int, kind: str, reason: str) -> None:
    outcome = store.record_report(
        sid,
        report_id=f"<{kind}.{sid}@mx.example.com>",
        kind=kind,  # type: ignore[arg-type]
        reason=reason,
        now=NOW,
        soft_limit=3,
        soft_days=14,
    )
    assert outcome == "suppressed"


def test_the_manage_page_says_why_mail_stopped_and_resumes_it(
    client: TestClient, papers: Store, tokens: Tokens
) -> None:
    store = papers
    sid = active(store)
    later = NOW + timedelta(days=1, hours=1)  # the reader's send hour, 07:00
    assert sid in {d.subscriber_id for d in find_due(store, now=later)}
    suppress(store, sid, "hard", "5.1.1 smtp; 550 5.1.1 User unknown")
    assert sid not in {d.subscriber_id for d in find_due(store, now=later)}

    url = f"/m/{tokens.make('manage', sid)}"
    page = client.get(url)
    assert page.status_code == 200
    notice = page.text.split('id="suppressed"')[1].split("</section>")[0]
    assert "We stopped sending your digest on 20 November 2026" in notice
    assert "refused it as undeliverable: 5.1.1 smtp; 550 5.1.1 User unknown." in notice
    assert 'value="resume"' in notice

    done = client.post(url, data={"csrf": csrf_of(page.text), "action": "resume"})
    assert done.status_code == 200  # followed the redirect back to the page
    assert "Your digest is on again" in done.text and 'id="suppressed"' not in done.text
    sub = store.subscriber(sid)
    assert sub is not None and sub.status == "active"
    assert store.suppression(sid) is None
    assert sid in {d.subscriber_id for d in find_due(store, now=later)}


def test_resuming_needs_the_form_token(client: TestClient, store: Store, tokens: Tokens) -> None:
    sid = active(store)
    suppress(store, sid, "complaint", "marked as abuse at the mail provider")
    url = f"/m/{tokens.make('manage', sid)}"
    assert "reported as spam from your mailbox" in client.get(url).text
    refused = client.post(url, data={"action": "resume"})
    assert refused.status_code == 400
    assert store.subscriber(sid).status == "suppressed"  # type: ignore[union-attr]


def test_subscribing_again_while_suppressed_mails_the_manage_link(
    client: TestClient, store: Store, settings: Settings
) -> None:
    sid = active(store, "ada@example.org")
    suppress(store, sid, "hard", "5.1.1 User unknown")
    status, _ = subscribe(client, "ada@example.org")
    assert status == 200
    (message,) = outbox(settings)
    assert "/m/" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert store.subscriber(sid).status == "suppressed"  # type: ignore[union-attr]


def test_link_mail_is_signed_from_its_own_address_and_returns_to_its_reader(
    store: Store, settings: Settings, tmp_path: Path, clock: Clock
) -> None:
    write_key(tmp_path / "k.pem", "links", "ed25519")
    signed = settings.model_copy(
        update={
            "mail": settings.mail.model_copy(
                update={
                    "from_address": "digest@example.org",
                    "link_from_address": "hello@example.org",
                    "link_from_name": "Papers, please",
                    "bounce_address": "bounces@example.org",
                }
            ),
            "dkim": settings.dkim.model_copy(
                update={"key_file": tmp_path / "k.pem", "selector": "links"}
            ),
        }
    )
    with TestClient(create_app(signed, store=store, clock=clock), base_url=BASE) as client:
        status, _ = subscribe(client, "zoe@example.com")
    assert status == 200
    (path,) = (signed.data_dir / "outbox" / "new").iterdir()
    raw = path.read_bytes()
    key = load_key(signed.dkim)
    assert key is not None and verifies(raw, key, "example.org")
    (message,) = outbox(signed)
    assert str(message["From"]) == '"Papers, please" <hello@example.org>'
    sub = store.subscriber("zoe@example.com")
    assert sub is not None
    token = str(message["Return-Path"]).strip("<>").removeprefix("bounces+").split("@")[0]
    assert Tokens(signed.secret_key.get_secret_value()).read("bounce", token) == (sub.id,)  # type: ignore[union-attr]
