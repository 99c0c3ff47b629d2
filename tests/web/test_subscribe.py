"""Subscribing: double opt-in, seed links, limits, addresses, mail."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import time_machine
from fastapi.testclient import TestClient

from digest.models import SeedPaper
from digest.settings import Settings, load_settings
from digest.store import Store
from digest.tokens import Tokens
from digest.web import create_app
from tests.conftest import NOW
from tests.smtp_server import SmtpServer
from tests.web.helpers import (
    BASE,
    Clock,
    active,
    csrf_of,
    link_in,
    outbox,
    subscribe,
    text_of,
)

# subscribe ----------------------------------------------------------------------------


def test_subscribe_creates_a_pending_subscriber_and_mails_a_confirmation_link(
    client: TestClient, store: Store, settings: Settings
) -> None:
    status, html = subscribe(client)
    assert status == 200 and "Check your inbox" in html
    sub = store.subscriber("ada@example.org")
    assert sub is not None
    assert (sub.status, sub.send_hour, sub.timezone) == ("pending", 6, "Europe/Paris")
    (profile,) = store.profiles(sub.id)
    assert profile.name == "main"
    assert [k.phrase for k in profile.keywords] == ["diffusion models"]
    assert profile.seed_papers == [SeedPaper(id="2606.27442")]
    (message,) = outbox(settings)
    assert message["To"] == "ada@example.org"
    assert "Confirm" in message["Subject"]
    assert message.get_body(("html",)) is not None
    assert link_in(message, "c").startswith(f"{BASE}/c/")


def test_arxiv_links_become_seed_papers_and_other_links_are_refused(
    client: TestClient, store: Store
) -> None:
    status, _ = subscribe(
        client, interests="https://arxiv.org/abs/2401.01234v2\narXiv:astro-ph/0601001, graphs"
    )
    assert status == 200
    sub = store.subscriber("ada@example.org")
    assert sub is not None
    (profile,) = store.profiles(sub.id)
    assert [s.id for s in profile.seed_papers] == ["2401.01234", "astro-ph/0601001"]
    status, html = subscribe(client, "bob@example.org", interests="https://example.com/paper")
    assert status == 400 and "Only arXiv links" in html
    assert store.subscriber("bob@example.org") is None


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"email": ""}, "Enter your email address"),
        ({"email": "not an address"}, "not a valid email address"),
        ({"email": "a" * 250 + "@example.org"}, "at most 254 characters"),
        ({"interests": ""}, "at least one keyword"),
        ({"interests": "x" * 2001}, "under 2000 characters"),
        ({"interests": "k" * 201}, "at most 200 characters"),
        ({"send_hour": "24"}, "from 0 to 23"),
        ({"send_hour": "seven"}, "from 0 to 23"),
        ({"timezone": "Mars/Olympus_Mons"}, "Unknown time zone"),
    ],
)
def test_malformed_subscribe_forms_change_nothing(
    client: TestClient, store: Store, settings: Settings, fields: dict[str, str], error: str
) -> None:
    status, html = subscribe(client, **fields)
    assert status == 400
    assert error in html
    assert "Traceback" not in html
    assert store.subscribers() == []
    assert outbox(settings) == []


def test_a_post_missing_every_field_is_a_clear_error(client: TestClient, store: Store) -> None:
    page = client.get("/")
    response = client.post("/", data={"csrf": csrf_of(page.text)})
    assert response.status_code == 400
    assert "Enter your email address" in response.text
    assert store.subscribers() == []


def test_a_typed_value_is_kept_and_escaped_when_the_form_comes_back(client: TestClient) -> None:
    status, html = subscribe(client, "<b>x</b>", interests="<script>alert(1)</script>")
    assert status == 400
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_resubscribing_shows_the_same_page_and_is_rate_limited(
    client: TestClient, store: Store, settings: Settings, clock: Clock
) -> None:
    first = subscribe(client)
    again = subscribe(client, interests="something else entirely")
    assert first == again
    assert len(outbox(settings)) == 1
    sub = store.subscriber("ada@example.org")
    assert sub is not None
    assert [k.phrase for k in store.profiles(sub.id)[0].keywords] == ["diffusion models"]
    for _ in range(10):
        clock.advance(minutes=11)
        assert subscribe(client) == first
    assert len(outbox(settings)) == 5, "at most five a day"
    clock.advance(days=1)
    assert subscribe(client) == first
    assert len(outbox(settings)) == 6


def test_an_active_address_gets_the_same_page_and_keeps_its_profile(
    client: TestClient, store: Store, settings: Settings
) -> None:
    sid = active(store, "grace@example.org")
    before = store.profiles(sid)
    status, html = subscribe(client, "grace@example.org", interests="something new")
    _, fresh = subscribe(client, "new@example.org")
    assert status == 200
    assert html.replace("grace@example.org", "X") == fresh.replace("new@example.org", "X")
    assert store.profiles(sid) == before
    assert store.subscriber(sid).status == "active"  # type: ignore[union-attr]
    messages = [m for m in outbox(settings) if m["To"] == "grace@example.org"]
    (message,) = messages
    assert "/c/" not in text_of(message), "an active address gets no confirmation link"
    assert link_in(message, "m")


def test_mail_goes_through_smtp_and_a_refusal_does_not_show(
    tmp_path: Path, smtp_server: SmtpServer, store: Store
) -> None:
    smtp = {"host": smtp_server.host, "port": smtp_server.port, "security": "plain"}
    settings = load_settings(
        data_dir=tmp_path / "data",
        secret_key="test-secret-" + "x" * 20,
        mail={"mailer": "smtp", "retry_backoff": 0},
        smtp=smtp,
    )
    with TestClient(create_app(settings, store=store, clock=Clock(NOW)), base_url=BASE) as c:
        status, page = subscribe(c)
        assert status == 200
        (message,) = smtp_server.wait_for(1)
        assert message["To"] == "ada@example.org"
        assert "/c/" in text_of(message)
        smtp_server.script = [550]
        status, refused = subscribe(c, "nobody@example.org")
        assert status == 200
        assert refused.replace("nobody@example.org", "X") == page.replace("ada@example.org", "X")
        assert len(smtp_server.messages) == 1
        assert smtp_server.refused


@pytest.mark.parametrize(
    "address", ["ünïcödé@exämple.org", "\u0430da@example.org", "zoë@example.org"]
)
def test_an_address_not_ascii_before_the_at_is_refused_at_the_form(
    client: TestClient, store: Store, settings: Settings, address: str
) -> None:
    status, html = subscribe(client, address)
    assert status == 400 and "Check your inbox" not in html
    assert "plain ASCII" in html
    assert store.subscribers() == [] and outbox(settings) == []


def test_a_unicode_domain_is_mailed_under_its_ascii_name(
    tmp_path: Path, smtp_server: SmtpServer, store: Store
) -> None:
    settings = load_settings(
        data_dir=tmp_path / "data",
        secret_key="test-secret-" + "x" * 20,
        mail={"mailer": "smtp", "retry_backoff": 0},
        smtp={"host": smtp_server.host, "port": smtp_server.port, "security": "plain"},
    )
    with TestClient(create_app(settings, store=store, clock=Clock(NOW)), base_url=BASE) as c:
        status, html = subscribe(c, "ada@пример.com")
        assert status == 200 and "Check your inbox" in html
        (message,) = smtp_server.wait_for(1)
    assert message["To"] == "ada@xn--e1afmkfd.com"
    assert store.subscriber("ada@xn--e1afmkfd.com") is not None


def test_a_link_mail_that_cannot_be_written_is_logged_not_raised(
    client: TestClient,
    store: Store,
    tokens: Tokens,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sid = active(store, "zoë@exämple.org")
    with time_machine.travel(datetime(2026, 6, 1, 12, 0), tick=False):
        url = f"/m/{tokens.make('manage', sid)}"
    with time_machine.travel(datetime(2026, 11, 20, 6, 0), tick=False):
        page = client.get(url)
        sent = client.post(url, data={"csrf": csrf_of(page.text), "action": "renew"})
    assert sent.status_code == 200 and "on its way" in sent.text
    assert outbox(settings) == []
    assert "manage mail to subscriber not sent" in caplog.text


def test_a_temporary_smtp_failure_is_retried(
    tmp_path: Path, smtp_server: SmtpServer, store: Store
) -> None:
    settings = load_settings(
        data_dir=tmp_path / "data",
        secret_key="test-secret-" + "x" * 20,
        mail={"mailer": "smtp", "retry_backoff": 0},
        smtp={"host": smtp_server.host, "port": smtp_server.port, "security": "plain"},
    )
    smtp_server.script = [451, 250]
    with TestClient(create_app(settings, store=store, clock=Clock(NOW)), base_url=BASE) as c:
        assert subscribe(c)[0] == 200
    assert len(smtp_server.wait_for(1)) == 1
