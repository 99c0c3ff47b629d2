"""The subscribers' web app, in process through TestClient, on a real SQLite store.

Mail goes to the Maildir outbox (or, where said, to a real SMTP server on loopback), so
every "was a message sent?" question is answered by counting real messages.
"""

from __future__ import annotations

import email
import os
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
import time_machine
from fastapi.testclient import TestClient

from digest import accounts
from digest.day.run import run_day
from digest.day.sources import collect_sources
from digest.day.vectors import refit
from digest.models import Keyword, Paper, Profile, SeedPaper
from digest.settings import Settings, SourceSettings, load_settings
from digest.sources.formats import parse
from digest.store import Due, Finished, Item, Store
from digest.tokens import Tokens
from digest.web import MissingSecret, create_app
from digest.web.security import Csrf
from digest.web.server import HeaderDeadline
from tests.conftest import FIXTURES, NOW
from tests.smtp_server import SmtpServer

BASE = "http://localhost:8000"
BATCH = FIXTURES / "batches" / "2026-06-29.jsonl"
ARXIV_ANSWER = (
    FIXTURES / "feeds" / "arxiv-api" / "id_0808.05394_1707.08567_s0_m100_42e5aa0ec3af.body.xml"
)


class Clock:
    """The app's clock, moved by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


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
    assert refit(store, now=NOW) is not None
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


def outbox(settings: Settings) -> list[EmailMessage]:
    folder = settings.data_dir / "outbox" / "new"
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime_ns):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, EmailMessage)
        found.append(message)
    return found


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def link_in(message: EmailMessage, kind: str) -> str:
    found = re.search(rf"{re.escape(BASE)}/{kind}/\S+", text_of(message))
    assert found, text_of(message)
    return found.group(0)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def subscribe(
    client: TestClient,
    address: str = "ada@example.org",
    interests: str = "diffusion models, 2606.27442",
    **extra: str,
) -> tuple[int, str]:
    page = client.get("/")
    data = {
        "csrf": csrf_of(page.text),
        "email": address,
        "interests": interests,
        "send_hour": "6",
        "timezone": "Europe/Paris",
        **extra,
    }
    response = client.post("/", data=data)
    return response.status_code, response.text


def active(store: Store, address: str = "grace@example.org", **profile: object) -> int:
    sub = store.add_subscriber(address, now=NOW, status="active", send_hour=7, timezone="UTC")
    fields = {"name": "main", "keywords": [Keyword(phrase="quantum")], **profile}
    store.save_profiles(sub.id, [Profile.model_validate(fields)], now=NOW)
    return sub.id


def path(url: str) -> str:
    return url.removeprefix(BASE)


# start-up -----------------------------------------------------------------------------


@pytest.mark.parametrize("production", [True, False])
def test_the_app_refuses_to_start_without_a_secret(tmp_path: Path, production: bool) -> None:
    bare = load_settings(data_dir=tmp_path / "data", web={"production": production})
    with pytest.raises(MissingSecret, match=r"digest init.*DIGEST_SECRET_KEY"):
        create_app(bare)


def test_a_too_short_secret_is_refused(tmp_path: Path) -> None:
    weak = load_settings(data_dir=tmp_path / "data", secret_key="short")
    with pytest.raises(MissingSecret, match="at least 16"):
        create_app(weak)


def test_serve_runs_the_scheduler_alongside_the_server(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import uvicorn
    from sqlalchemy import create_engine, text

    from digest.web import serve

    seen: dict[str, object] = {}

    def run(app: object, **options: object) -> None:
        seen["app"], seen["options"] = app, options
        seen["threads"] = [t.name for t in threading.enumerate()]
        engine = create_engine(settings.db_url)
        with engine.connect() as conn:
            seen["jobs"] = sorted(conn.execute(text("SELECT id FROM apscheduler_jobs")).scalars())
        engine.dispose()

    monkeypatch.setattr(uvicorn, "run", run)
    serve(settings, "127.0.0.1", 8123)
    options = dict(seen["options"])  # type: ignore[call-overload]
    protocol = options.pop("http")
    assert issubclass(protocol, HeaderDeadline) and protocol.header_timeout == 10.0
    assert options == {
        "host": "127.0.0.1",
        "port": 8123,
        "log_level": "info",
        "proxy_headers": True,
        "server_header": False,
        "timeout_keep_alive": 5,
        "limit_concurrency": 1000,
        "h11_max_incomplete_event_size": 16 * 1024,
    }
    assert "APScheduler" in seen["threads"]  # type: ignore[operator]
    assert seen["jobs"] == ["digest.collect", "digest.deliver"]
    assert "APScheduler" not in [t.name for t in threading.enumerate()], "stopped on exit"


def test_pages_have_security_headers_and_the_stylesheet_is_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    policy_header = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy_header
    nonce = re.search(r"'nonce-([^']+)'", policy_header)
    assert nonce and f'<script nonce="{nonce.group(1)}">' in page.text
    css = client.get("/static/style.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_unknown_pages_get_a_plain_404_page(client: TestClient) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert "Page not found" in response.text


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


# confirm ------------------------------------------------------------------------------


def test_confirm_get_changes_nothing_and_post_activates(
    client: TestClient, store: Store, settings: Settings, clock: Clock
) -> None:
    subscribe(client)
    url = link_in(outbox(settings)[0], "c")
    page = client.get(url)
    assert page.status_code == 200 and "ada@example.org" in page.text
    client.get(url)
    sub = store.subscriber("ada@example.org")
    assert sub is not None and sub.status == "pending" and sub.confirmed_at is None
    clock.advance(minutes=3)
    done = client.post(url, data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"].startswith("/m/")
    sub = store.subscriber("ada@example.org")
    assert sub is not None
    assert (sub.status, sub.confirmed_at) == ("active", NOW + timedelta(minutes=3))
    manage = client.get(done.headers["location"])
    assert manage.status_code == 200 and "diffusion models" in manage.text


def test_confirming_twice_keeps_the_first_confirmation(
    client: TestClient, store: Store, tokens: Tokens, clock: Clock
) -> None:
    sid = store.add_subscriber("ada@example.org", now=NOW).id
    url = f"/c/{tokens.make('confirm', sid)}"
    token = csrf_of(client.get(url).text)
    client.post(url, data={"csrf": token})
    clock.advance(hours=1)
    again = client.post(url, data={"csrf": token}, follow_redirects=False)
    assert again.status_code == 303
    assert store.subscriber(sid).confirmed_at == NOW  # type: ignore[union-attr]


# tokens -------------------------------------------------------------------------------


def _urls(tokens: Tokens, purpose: str, sid: int) -> str:
    if purpose == "confirm":
        return f"/c/{tokens.make('confirm', sid)}"
    if purpose == "manage":
        return f"/m/{tokens.make('manage', sid)}"
    if purpose == "unsubscribe":
        return f"/u/{tokens.make('unsubscribe', sid)}"
    if purpose == "feed":
        return f"/f/{tokens.make('feed', sid)}.rss"
    if purpose == "archive":
        return f"/a/{tokens.make('archive', sid, 1)}"
    return f"/fb/{tokens.make('feedback', sid)}/up/main/2606.27442"


PURPOSES = ["confirm", "manage", "unsubscribe", "feed", "archive", "feedback"]


@pytest.mark.parametrize("purpose", PURPOSES)
def test_forged_tokens_are_rejected(
    client: TestClient, store: Store, tokens: Tokens, purpose: str
) -> None:
    sid = active(store)
    url = _urls(tokens, purpose, sid)
    rest = url[1:].partition("/")[2]
    token = rest.split("/")[0].removesuffix(".rss")
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for bad in (forged, "garbage", f"{sid}"):
        response = client.get(url.replace(token, bad, 1))
        assert response.status_code == 404, (purpose, bad)
        if purpose != "feed":
            assert "This link is not valid" in response.text
        assert "Traceback" not in response.text


@pytest.mark.parametrize("purpose", PURPOSES)
def test_tokens_made_for_another_purpose_are_rejected(
    client: TestClient, store: Store, tokens: Tokens, purpose: str
) -> None:
    sid = active(store)
    other = "manage" if purpose != "manage" else "confirm"
    url = _urls(tokens, purpose, sid)
    token = url[1:].partition("/")[2].split("/")[0].removesuffix(".rss")
    swapped = url.replace(token, tokens.make(other, sid), 1)  # type: ignore[arg-type]
    assert client.get(swapped).status_code == 404


def test_a_token_for_a_deleted_subscriber_is_rejected(client: TestClient, tokens: Tokens) -> None:
    assert client.get(f"/u/{tokens.make('unsubscribe', 999)}").status_code == 404
    assert client.get(f"/m/{tokens.make('manage', 999)}").status_code == 404


@pytest.mark.parametrize("purpose", PURPOSES)
@pytest.mark.parametrize("big", [2**63, 2**64 + 5, 16**40])
def test_a_genuine_token_with_an_id_beyond_the_database_range_is_not_found(
    client: TestClient, tokens: Tokens, purpose: str, big: int
) -> None:
    response = client.get(_urls(tokens, purpose, big))
    assert response.status_code == 404, response.text
    assert "Something went wrong" not in response.text


def test_expired_confirm_links_are_rejected(
    client: TestClient, store: Store, tokens: Tokens, settings: Settings
) -> None:
    sid = store.add_subscriber("ada@example.org", now=NOW).id
    with time_machine.travel(datetime(2026, 11, 1, 12, 0), tick=False):
        url = f"/c/{tokens.make('confirm', sid)}"
        page = client.get(url)
        assert page.status_code == 200
    later = datetime(2026, 11, 1, 12, 0) + timedelta(seconds=settings.web.confirm_max_age + 60)
    with time_machine.travel(later, tick=False):
        response = client.get(url)
        assert response.status_code == 404
        assert "This link has expired" in response.text
        posted = client.post(url, data={"csrf": csrf_of(page.text)})
        assert posted.status_code == 404
    assert store.subscriber(sid).status == "pending"  # type: ignore[union-attr]


def test_an_expired_manage_link_offers_a_fresh_one_by_mail(
    client: TestClient, store: Store, tokens: Tokens, settings: Settings, clock: Clock
) -> None:
    sid = active(store)
    with time_machine.travel(datetime(2026, 6, 1, 12, 0), tick=False):
        url = f"/m/{tokens.make('manage', sid)}"
    with time_machine.travel(datetime(2026, 11, 20, 6, 0), tick=False):
        page = client.get(url)
        assert page.status_code == 404
        assert "This link has expired" in page.text and "Email me a fresh link" in page.text
        assert outbox(settings) == []
        sent = client.post(url, data={"csrf": csrf_of(page.text), "action": "renew"})
        assert sent.status_code == 200 and "on its way" in sent.text
        again = client.post(url, data={"csrf": csrf_of(page.text), "action": "renew"})
        assert again.text == sent.text
        (message,) = outbox(settings)
        assert message["To"] == "grace@example.org"
        fresh = link_in(message, "m")
        assert client.get(fresh).status_code == 200
        refused = client.post(url, data={"action": "renew"})
        assert refused.status_code == 404
    assert len(outbox(settings)) == 1


# unsubscribe --------------------------------------------------------------------------


def test_unsubscribe_get_changes_nothing_and_the_button_unsubscribes(
    client: TestClient, store: Store, tokens: Tokens, clock: Clock
) -> None:
    sid = active(store)
    url = f"/u/{tokens.make('unsubscribe', sid)}"
    page = client.get(url)
    assert page.status_code == 200 and "grace@example.org" in page.text
    assert store.subscriber(sid).status == "active"  # type: ignore[union-attr]
    clock.advance(hours=2)
    done = client.post(url, data={"csrf": csrf_of(page.text)})
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    sub = store.subscriber(sid)
    assert sub is not None and sub.status == "unsubscribed"
    assert _unsubscribed_at(store, sid) == NOW + timedelta(hours=2)


def _unsubscribed_at(store: Store, sid: int) -> datetime | None:
    from sqlalchemy import select

    from digest.tables import subscribers

    with store.engine.connect() as conn:
        return conn.execute(
            select(subscribers.c.unsubscribed_at).where(subscribers.c.id == sid)
        ).scalar()


@pytest.mark.parametrize("multipart", [False, True])
def test_one_click_unsubscribe_needs_no_cookie_or_form_token(
    settings: Settings, store: Store, tokens: Tokens, multipart: bool
) -> None:
    sid = active(store)
    app = create_app(settings, store=store, clock=Clock(NOW))
    url = f"/u/{tokens.make('unsubscribe', sid)}"
    with TestClient(app, base_url=BASE) as fresh_client:
        if multipart:
            response = fresh_client.post(url, files={"List-Unsubscribe": (None, "One-Click")})
        else:
            response = fresh_client.post(
                url,
                content=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
    assert response.status_code == 200
    assert store.subscriber(sid).status == "unsubscribed"  # type: ignore[union-attr]


def test_resubscribing_after_unsubscribing_goes_through_confirmation_again(
    client: TestClient, store: Store, tokens: Tokens, settings: Settings
) -> None:
    sid = active(store, "ada@example.org")
    client.post(f"/u/{tokens.make('unsubscribe', sid)}", data={"List-Unsubscribe": "One-Click"})
    old_confirm = f"/c/{tokens.make('confirm', sid)}"
    assert client.get(old_confirm).status_code == 404, "an unsubscribed address is not revived"
    subscribe(client, "ada@example.org")
    assert store.subscriber(sid).status == "pending"  # type: ignore[union-attr]
    assert [k.phrase for k in store.profiles(sid)[0].keywords] == ["quantum"], "profiles kept"
    url = link_in(outbox(settings)[-1], "c")
    client.post(url, data={"csrf": csrf_of(client.get(url).text)})
    assert store.subscriber(sid).status == "active"  # type: ignore[union-attr]


# CSRF ---------------------------------------------------------------------------------


def test_posts_without_a_valid_csrf_token_are_refused_and_change_nothing(
    client: TestClient, store: Store, tokens: Tokens, settings: Settings, papers: Store
) -> None:
    pending = store.add_subscriber("ada@example.org", now=NOW).id
    sid = active(store)
    before = store.profiles(sid)
    manage = f"/m/{tokens.make('manage', sid)}"
    someone_else = active(store, "eve@example.org")
    other_page_token = csrf_of(client.get(f"/u/{tokens.make('unsubscribe', someone_else)}").text)
    for bad in ({}, {"csrf": "nonsense"}, {"csrf": other_page_token}):
        subscribe_post = client.post("/", data={"email": "x@example.org", "interests": "a", **bad})
        assert subscribe_post.status_code == 400
        confirm = client.post(f"/c/{tokens.make('confirm', pending)}", data=bad)
        assert confirm.status_code == 400
        save = client.post(
            manage,
            data={
                "profile_count": "1",
                "p0.name": "renamed",
                "p0.keywords": "x",
                "send_hour": "3",
                "timezone": "UTC",
                "cadence": "daily",
                "channels": "email",
                **bad,
            },
        )
        assert save.status_code == 400
        unsub = client.post(f"/u/{tokens.make('unsubscribe', sid)}", data=bad)
        assert unsub.status_code == 400
        feedback = client.post(f"/fb/{tokens.make('feedback', sid)}/up/main/2606.27442", data=bad)
        assert feedback.status_code == 400
        assert "This form has expired" in feedback.text
    assert store.subscriber("x@example.org") is None
    assert store.subscriber(pending).status == "pending"  # type: ignore[union-attr]
    assert store.subscriber(sid).status == "active"  # type: ignore[union-attr]
    assert store.subscriber(sid).send_hour == 7  # type: ignore[union-attr]
    assert store.profiles(sid) == before
    assert outbox(settings) == []


def test_the_subscribe_form_token_is_bound_to_the_browser_cookie(
    settings: Settings, store: Store
) -> None:
    app = create_app(settings, store=store, clock=Clock(NOW))
    with TestClient(app, base_url=BASE) as one, TestClient(app, base_url=BASE) as two:
        token = csrf_of(one.get("/").text)
        two.get("/")
        stolen = two.post(
            "/",
            data={
                "csrf": token,
                "email": "x@example.org",
                "interests": "a",
                "send_hour": "7",
                "timezone": "UTC",
            },
        )
        assert stolen.status_code == 400
        own = one.post(
            "/",
            data={
                "csrf": token,
                "email": "x@example.org",
                "interests": "a",
                "send_hour": "7",
                "timezone": "UTC",
            },
        )
        assert own.status_code == 200
    assert store.subscriber("x@example.org") is not None


def test_an_oversized_body_is_refused(client: TestClient, store: Store) -> None:
    page = client.get("/")
    response = client.post(
        "/", data={"csrf": csrf_of(page.text), "email": "a@example.org", "interests": "x" * 300_000}
    )
    assert response.status_code == 413
    assert store.subscribers() == []


# manage -------------------------------------------------------------------------------


class _FormReader(HTMLParser):
    """Collects the fields of the form with ``id``, as a browser would post them."""

    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.fields: dict[str, list[str]] = {}
        self._textarea: str | None = None
        self._select: str | None = None

    def _add(self, name: str, value: str) -> None:
        self.fields.setdefault(name, []).append(value)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        if not self.inside or ("name" not in a and tag != "option"):
            return
        if tag == "input" and a.get("type") not in ("submit", "button"):
            if a.get("type") in ("checkbox", "radio"):
                if "checked" in a:
                    self._add(a["name"], a.get("value", "on"))
            else:
                self._add(a["name"], a.get("value", ""))
        elif tag == "textarea":
            self._textarea = a["name"]
            self._add(a["name"], "")
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self._add(self._select, a.get("value", ""))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.fields[self._textarea][-1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None


def manage_data(html: str) -> dict[str, str | list[str]]:
    """The manage form's fields as the page filled them in (what a browser would post)."""
    reader = _FormReader("manage")
    reader.feed(html)
    return {
        k: v[0] if len(v) == 1 and k not in ("weekdays", "channels") else v
        for k, v in reader.fields.items()
    }


def test_manage_shows_profiles_preview_and_feed(
    client: TestClient, papers: Store, tokens: Tokens
) -> None:
    sid = active(papers)
    page = client.get(f"/m/{tokens.make('manage', sid)}")
    assert page.status_code == 200
    assert 'value="main"' in page.text
    assert "quantum" in page.text
    assert f"{BASE}/f/{tokens.make('feed', sid)}.rss" in page.text
    preview = page.text.split('id="preview"')[1]
    assert "A Quantum Method of Types" in preview


def test_manage_saves_every_field_at_once(
    client: TestClient, papers: Store, tokens: Tokens, clock: Clock
) -> None:
    sid = active(papers, liked=["2606.27442"])
    url = f"/m/{tokens.make('manage', sid)}"
    data = manage_data(client.get(url).text)
    data.update(
        {
            "p0.name": "markets",
            "p0.keywords": "quantum\nmechanism design ^2",
            "p0.exclude": "survey",
            "p0.authors": "Ada Lovelace",
            "p0.categories": "cs.GT, econ",
            "p0.seeds": "https://arxiv.org/abs/2606.27442v1",
            "p0.max_papers": "5",
            "p1.name": "graphs",
            "p1.keywords": "graph neural network",
            "send_hour": "21",
            "timezone": "America/New_York",
            "cadence": "weekly",
            "weekdays": ["0", "3"],
            "channels": ["rss"],
            "action": "save",
        }
    )
    done = client.post(url, data=data, follow_redirects=False)
    assert done.status_code == 303, done.text
    first, second = papers.profiles(sid)
    assert first.name == "markets"
    assert first.keywords == [
        Keyword(phrase="quantum"),
        Keyword(phrase="mechanism design", weight=2),
    ]
    assert (first.exclude, first.authors, first.categories) == (
        ["survey"],
        ["Ada Lovelace"],
        ["cs.GT", "econ"],
    )
    assert first.seed_papers == [SeedPaper(id="2606.27442")]
    assert first.max_papers == 5
    assert first.liked == ["2606.27442"], "feedback survives a rename"
    assert second.name == "graphs"
    sub = papers.subscriber(sid)
    assert sub is not None
    assert (sub.send_hour, sub.timezone, sub.cadence, sub.weekdays, sub.channels) == (
        21,
        "America/New_York",
        "weekly",
        (0, 3),
        ("rss",),
    )
    shown = client.get(done.headers["location"])
    assert "Saved." in shown.text
    assert "mechanism design ^2" in shown.text


def test_control_characters_typed_into_the_manage_form_never_reach_the_day(
    client: TestClient, papers: Store, tokens: Tokens, settings: Settings
) -> None:
    sid = active(papers)
    url = f"/m/{tokens.make('manage', sid)}"
    data = manage_data(client.get(url).text)
    data.update(
        {
            "p0.name": "quantum\r\nBcc: mallory@example.org\x00",
            "p0.keywords": "quantum\x1b",
            "p0.authors": "Ada\x07 Lovelace",
            "p0.exclude": "survey\u2028review",
            "action": "save",
        }
    )
    assert client.post(url, data=data, follow_redirects=False).status_code == 303
    (profile,) = papers.profiles(sid)
    assert profile.name == "quantum Bcc: mallory@example.org"
    assert profile.keywords == [Keyword(phrase="quantum")]
    assert (profile.authors, profile.exclude) == (["Ada Lovelace"], ["survey review"])
    assert client.get(url).status_code == 200
    report = run_day(papers, settings, now=NOW, day=NOW.date(), collect_first=False, workers=1)
    assert (report.sent, report.failed) == (1, [])
    (message,) = outbox(settings)
    assert "quantum Bcc: mallory@example.org" in message["Subject"]
    assert message["Bcc"] is None


def test_preview_shows_unsaved_changes_and_saves_nothing(
    client: TestClient, papers: Store, tokens: Tokens
) -> None:
    sid = active(papers)
    url = f"/m/{tokens.make('manage', sid)}"
    data = manage_data(client.get(url).text)
    data.update({"p0.keywords": "galaxy cluster", "action": "preview"})
    response = client.post(url, data=data)
    assert response.status_code == 200
    assert "with your unsaved changes" in response.text
    preview = response.text.split('id="preview"')[1]
    assert "A Quantum Method of Types" not in preview
    assert [k.phrase for k in papers.profiles(sid)[0].keywords] == ["quantum"]


def test_deleting_a_profile_and_keeping_one(
    client: TestClient, store: Store, tokens: Tokens
) -> None:
    sid = active(store)
    store.save_profiles(
        sid, [Profile(name="a", keywords=[Keyword(phrase="x")]), Profile(name="b")], now=NOW
    )
    url = f"/m/{tokens.make('manage', sid)}"
    data = manage_data(client.get(url).text)
    data["p0.delete"] = "1"
    assert client.post(url, data=data, follow_redirects=False).status_code == 303
    assert [p.name for p in store.profiles(sid)] == ["b"]
    data = manage_data(client.get(url).text)
    data["p0.delete"] = "1"
    refused = client.post(url, data=data)
    assert refused.status_code == 400 and "Keep at least one profile" in refused.text
    assert [p.name for p in store.profiles(sid)] == ["b"]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"p0.max_papers": "0"}, "p0-max_papers", "from 1 to 200"),
        ({"p0.max_papers": "many"}, "p0-max_papers", "from 1 to 200"),
        ({"p0.categories": "cs.LG, not a category!"}, "p0-categories", "Not a category"),
        ({"p0.keywords": "fine\nweighted ^11"}, "p0-keywords", "up to 10"),
        ({"p0.keywords": "x" * 20_001}, "p0-keywords", "Too long"),
        ({"p0.seeds": "not-an-id"}, "p0-seeds", "Not an arXiv id"),
        ({"p0.seeds": "2401.99999"}, "p0-seeds", "Not found on arXiv: 2401.99999"),
        ({"p0.name": ""}, "p0-name", "Give this profile a name"),
        ({"p1.name": "main", "p1.keywords": "y"}, "p1-name", "same name"),
        ({"p1.keywords": "nameless"}, "p1-name", "Give this profile a name"),
        ({"send_hour": "25"}, "send_hour", "from 0 to 23"),
        ({"timezone": "Nowhere/Land"}, "timezone", "Unknown time zone"),
        ({"cadence": "hourly"}, "cadence", "daily or weekly"),
        ({"cadence": "weekly", "weekdays": []}, "weekdays", "at least one day"),
        ({"weekdays": ["9"]}, "weekdays", "Unknown weekday"),
        ({"channels": []}, "channels", "email, RSS or both"),
        ({"channels": ["fax"]}, "channels", "Unknown channel"),
    ],
)
def test_a_bad_manage_form_shows_the_error_by_its_field_and_saves_nothing(
    client: TestClient,
    papers: Store,
    tokens: Tokens,
    arxiv_api: list[list[str]],
    changes: dict[str, object],
    field: str,
    message: str,
) -> None:
    sid = active(papers)
    before = (papers.profiles(sid), papers.subscriber(sid))
    url = f"/m/{tokens.make('manage', sid)}"
    data = manage_data(client.get(url).text)
    data.update({"p0.keywords": "changed", "send_hour": "3", **changes})  # type: ignore[dict-item]
    if not changes.get("weekdays", True):
        data.pop("weekdays", None)
    if changes.get("channels") == []:
        data.pop("channels", None)
    response = client.post(url, data=data)
    assert response.status_code == 400
    assert re.search(rf'id="{re.escape(field)}-error">[^<]*{re.escape(message)}', response.text), (
        response.text
    )
    assert "Nothing was saved" in response.text
    assert (papers.profiles(sid), papers.subscriber(sid)) == before


def test_limits_of_the_profile_model_are_shown_by_their_field() -> None:
    from digest.web import forms

    many = "\n".join(f"keyword {i}" for i in range(201))
    form = forms.ManageForm([forms.ProfileFields(name="x", keywords=many)], forms.SettingsFields())
    assert forms.validate_manage(form, [], lambda ids: (ids, [])) is None
    assert "at most 200 items" in form.errors["p0.keywords"]


def test_seed_papers_are_looked_up_in_the_store_then_on_arxiv(
    client: TestClient, papers: Store, tokens: Tokens, arxiv_api: list[list[str]]
) -> None:
    sid = active(papers)
    url = f"/m/{tokens.make('manage', sid)}"
    data = manage_data(client.get(url).text)
    data.update({"p0.seeds": "2606.27442\nhttps://arxiv.org/pdf/1707.08567v2", "action": "save"})
    assert client.post(url, data=data, follow_redirects=False).status_code == 303
    assert papers.profiles(sid)[0].seed_papers == [
        SeedPaper(id="2606.27442"),
        SeedPaper(id="1707.08567"),
    ]
    assert arxiv_api == [["1707.08567"]], "only the unknown id is fetched"


# feedback -----------------------------------------------------------------------------


def _sent_digest(store: Store, sid: int, *items: Item, day: date = date(2026, 11, 20)) -> int:
    """A digest recorded as sent to ``sid`` (by default one pick, 2606.27442 in main)."""
    batch = store.latest_batch_id() or 0
    (did,) = store.plan([Due(sid, day, batch - 1, batch)], now=NOW)
    lease = timedelta(minutes=30)
    store.claim([did], owner="test", now=NOW, lease=lease, alive=lambda _: True)
    picks = items or (Item("main", "2606.27442", 0.9, "matches quantum"),)
    store.finish(
        [Finished(did, "sent", picks, message_id=f"<{day}@localhost>")], owner="test", now=NOW
    )
    return did


def test_feedback_get_asks_and_post_records(
    client: TestClient, papers: Store, tokens: Tokens
) -> None:
    sid = active(papers)
    _sent_digest(papers, sid)
    url = f"/fb/{tokens.make('feedback', sid)}/up/main/2606.27442"
    page = client.get(url)
    assert page.status_code == 200
    assert "Record 👍 for" in page.text and "A Quantum Method of Types" in page.text
    assert papers.profiles(sid)[0].liked == []
    done = client.post(url, data={"csrf": csrf_of(page.text)})
    assert done.status_code == 200 and "Thank you" in done.text
    assert papers.profiles(sid)[0].liked == ["2606.27442"]
    down = url.replace("/up/", "/down/")
    client.post(down, data={"csrf": csrf_of(client.get(down).text)})
    profile = papers.profiles(sid)[0]
    assert (profile.liked, profile.disliked) == ([], ["2606.27442"])


def test_feedback_links_survive_slashes_in_profile_names_and_paper_ids(
    client: TestClient, store: Store, tokens: Tokens
) -> None:
    from digest.links import LinkMaker, feedback_url

    sid = active(store)
    store.save_profiles(sid, [Profile(name="astro/cosmo")], now=NOW)
    _sent_digest(store, sid, Item("astro/cosmo", "astro-ph/0601001", 0.5, "in astro-ph"))
    links = LinkMaker(BASE, tokens)
    url = path(feedback_url(links.feedback_base(sid), "down", "astro/cosmo", "astro-ph/0601001"))
    page = client.get(url)
    assert (
        page.status_code == 200 and "astro/cosmo" in page.text and "astro-ph/0601001" in page.text
    )
    client.post(url, data={"csrf": csrf_of(page.text)})
    assert store.profiles(sid)[0].disliked == ["astro-ph/0601001"]


def test_feedback_for_a_missing_profile_or_a_bad_vote(
    client: TestClient, store: Store, tokens: Tokens
) -> None:
    sid = active(store)
    _sent_digest(store, sid)
    token = tokens.make("feedback", sid)
    assert client.get(f"/fb/{token}/up/gone/2606.27442").status_code == 404
    assert client.get(f"/fb/{token}/sideways/main/2606.27442").status_code == 404


def test_feedback_only_counts_for_papers_in_the_readers_own_digests(
    client: TestClient, papers: Store, tokens: Tokens, settings: Settings
) -> None:
    sid = active(papers)
    other = active(papers, "other@example.org")
    _sent_digest(papers, other)
    url = f"/fb/{tokens.make('feedback', sid)}/up/main/"
    csrf = Csrf(settings.secret_key.get_secret_value())  # type: ignore[union-attr]
    for paper_id in ("2606.27442", "made-up-" + "x" * 280, "2606.99999"):
        page = client.get(url + paper_id)
        assert page.status_code == 404 and "This link is not valid" in page.text
        posted = client.post(url + paper_id, data={"csrf": csrf.make(url + paper_id)})
        assert posted.status_code == 404 and "This link is not valid" in posted.text
    assert papers.profiles(sid)[0].liked == []
    _sent_digest(papers, sid)
    page = client.get(url + "2606.27442")
    client.post(url + "2606.27442", data={"csrf": csrf_of(page.text)})
    assert papers.profiles(sid)[0].liked == ["2606.27442"]


def test_feedback_keeps_the_newest_papers_up_to_the_profile_limit(
    client: TestClient, papers: Store, tokens: Tokens
) -> None:
    from digest.models import MAX_FEEDBACK

    old = [f"old-{i}" for i in range(MAX_FEEDBACK)]
    sid = active(papers, liked=old)
    _sent_digest(papers, sid)
    url = f"/fb/{tokens.make('feedback', sid)}/up/main/2606.27442"
    client.post(url, data={"csrf": csrf_of(client.get(url).text)})
    liked = papers.profiles(sid)[0].liked
    assert len(liked) == MAX_FEEDBACK
    assert liked[-1] == "2606.27442" and liked[0] == "old-1", "the oldest goes first"
    assert client.get(f"/m/{tokens.make('manage', sid)}").status_code == 200


def test_a_stored_profile_beyond_the_limits_stops_neither_its_pages_nor_the_day(
    client: TestClient,
    papers: Store,
    tokens: Tokens,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from sqlalchemy import update

    from digest.models import MAX_FEEDBACK
    from digest.tables import profiles

    crowded = active(papers, "crowded@example.org")
    broken = active(papers, "broken@example.org")
    active(papers, "fine@example.org")
    too_many = [f"old-{i}" for i in range(MAX_FEEDBACK + 1)]
    (row,) = [p.model_dump(mode="json") for p in papers.profiles(crowded)]
    with papers.engine.begin() as conn:
        conn.execute(
            update(profiles)
            .where(profiles.c.subscriber_id == crowded)
            .values(data={**row, "liked": too_many})
        )
        conn.execute(
            update(profiles)
            .where(profiles.c.subscriber_id == broken)
            .values(data={**row, "max_papers": -3})
        )
    (profile,) = papers.profiles(crowded)
    assert profile.liked == too_many[1:], "cut to the limit, newest kept"
    assert papers.profiles(broken) == []
    assert "was beyond the limits" in caplog.text and "not valid" in caplog.text
    for sid in (crowded, broken):
        assert client.get(f"/m/{tokens.make('manage', sid)}").status_code == 200
    report = run_day(papers, settings, now=NOW, day=NOW.date(), collect_first=False, workers=1)
    assert report.failed == [] and report.sent == 2
    assert sorted(m["To"] for m in outbox(settings)) == [
        "crowded@example.org",
        "fine@example.org",
    ]


def test_feedback_links_expire(
    client: TestClient, papers: Store, tokens: Tokens, settings: Settings
) -> None:
    sid = active(papers)
    _sent_digest(papers, sid)
    with time_machine.travel(datetime(2026, 1, 1, 12, 0), tick=False):
        url = f"/fb/{tokens.make('feedback', sid)}/up/main/2606.27442"
    age = timedelta(seconds=settings.web.feedback_max_age)
    with time_machine.travel(datetime(2026, 1, 1, 12, 0) + age - timedelta(hours=1), tick=False):
        assert client.get(url).status_code == 200
    with time_machine.travel(datetime(2026, 1, 1, 12, 0) + age + timedelta(hours=1), tick=False):
        page = client.get(url)
        assert page.status_code == 404 and "This link has expired" in page.text
    assert papers.profiles(sid)[0].liked == []


# feed and archive ---------------------------------------------------------------------


def test_the_feed_has_validators_and_answers_conditional_gets(
    client: TestClient, papers: Store, tokens: Tokens, settings: Settings
) -> None:
    sid = active(papers)
    _sent_digest(papers, sid)
    url = f"/f/{tokens.make('feed', sid)}.rss"
    with time_machine.travel(datetime(2026, 11, 20, 7, 0), tick=False):
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/rss+xml; charset=utf-8"
        assert "<rss" in response.text
        etag, modified = response.headers["etag"], response.headers["last-modified"]
        changed = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)  # when the digest was sent
        assert etag.startswith('"') and modified == format_datetime(changed, usegmt=True)
        same = client.get(url, headers={"If-None-Match": etag})
        assert same.status_code == 304 and same.content == b""
        assert same.headers["etag"] == etag
        assert client.get(url, headers={"If-None-Match": f'W/{etag}, "other"'}).status_code == 304
        assert client.get(url, headers={"If-None-Match": "*"}).status_code == 304
        assert client.get(url, headers={"If-Modified-Since": modified}).status_code == 304
        newer = format_datetime(changed + timedelta(days=1), usegmt=True)
        assert client.get(url, headers={"If-Modified-Since": newer}).status_code == 304
        assert client.get(url, headers={"If-None-Match": '"stale"'}).status_code == 200
        older = format_datetime(changed - timedelta(days=300), usegmt=True)
        assert client.get(url, headers={"If-Modified-Since": older}).status_code == 200
        assert client.get(url, headers={"If-Modified-Since": "garbage"}).status_code == 200
        head = client.head(url)
        assert head.status_code == 200 and head.headers["etag"] == etag


def test_the_feed_is_served_as_the_day_wrote_it_without_rendering(
    client: TestClient, papers: Store, tokens: Tokens, settings: Settings
) -> None:
    sid = active(papers)
    report = run_day(papers, settings, now=NOW, day=NOW.date(), collect_first=False, workers=1)
    assert report.written.feeds == 1
    (written,) = (settings.data_dir / "feeds").rglob("*.xml")
    url = f"/f/{tokens.make('feed', sid)}.rss"
    assert written.name == url.rsplit("/", 1)[-1].replace(".rss", ".xml")
    first = client.get(url)
    assert first.status_code == 200 and written.read_bytes() in first.content
    etag = first.headers["etag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304

    # the same size and time: the validators cannot tell, and the bytes on disk are served
    stat = written.stat()
    same_size = written.read_bytes().replace(b"Quantum", b"QUANTUM")
    written.write_bytes(same_size)
    os.utime(written, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert same_size in client.get(url).content

    # a new fragment from the day: a new ETag, and the old one no longer matches
    written.write_bytes(b"<item><title>next day</title></item>")
    os.utime(written, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    fresh = client.get(url, headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and b"next day" in fresh.content
    assert fresh.headers["etag"] != etag
    assert client.get(url, headers={"If-None-Match": fresh.headers["etag"]}).status_code == 304

    # no fragment at all (a data folder from an older version): built from the ledger
    written.unlink()
    again = client.get(url)
    assert again.status_code == 200 and b"A Quantum Method of Types" in again.content


def test_the_feed_of_a_new_subscriber_and_of_an_unsubscribed_one(
    client: TestClient, store: Store, tokens: Tokens
) -> None:
    sid = active(store)
    url = f"/f/{tokens.make('feed', sid)}.rss"
    empty = client.get(url)
    assert empty.status_code == 200 and "etag" in empty.headers
    store.update_subscriber(sid, status="unsubscribed")
    assert client.get(url).status_code == 410


def test_the_archive_shows_one_sent_digest_to_its_subscriber_only(
    client: TestClient, papers: Store, tokens: Tokens
) -> None:
    sid = active(papers)
    other = active(papers, "other@example.org")
    delivery = _sent_digest(papers, sid)
    page = client.get(f"/a/{tokens.make('archive', sid, delivery)}")
    assert page.status_code == 200
    assert "A Quantum Method of Types" in page.text
    assert "script-src" not in page.headers["content-security-policy"]
    assert client.get(f"/a/{tokens.make('archive', other, delivery)}").status_code == 404
    assert client.get(f"/a/{tokens.make('archive', sid)}").status_code == 404
