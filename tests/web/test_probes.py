"""Hostile input at every form field and every tokened URL: markup shown back in pages,
emails and feeds, header injection through the address, overlong fields, damaged
tokens, state changed by GET, a poisoned Host header, and redirects off the site."""

from __future__ import annotations

import json
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from digest.collect import collect
from digest.day.run import run_day
from digest.settings import Settings
from digest.sources import FileSource
from digest.store import Store
from digest.tables import profiles, subscribers
from digest.tokens import Tokens
from digest.web import create_app
from tests.conftest import NOW
from tests.web.helpers import (
    BASE,
    Clock,
    active,
    csrf_of,
    manage_data,
    outbox,
    sent_digest,
    subscribe,
)


@pytest.fixture
def client(settings: Settings, store: Store, clock: Clock) -> Iterator[TestClient]:
    """The app as a visitor meets it: a failure is the page it answers, not a raise."""
    app = create_app(settings, store=store, clock=clock)
    with TestClient(app, base_url=BASE, raise_server_exceptions=False) as c:
        yield c


PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg/onload=alert(1)>",
    "</textarea><script>alert(1)</script>",
    "javascript:alert(1)",
    "{{ 7*7 }}{% if 1 %}x{% endif %}",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "]]><script>alert(1)</script><![CDATA[",
]


class _Active(HTMLParser):
    """What in a page could run: script-like elements, event handler attributes,
    javascript: URLs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "iframe", "object", "embed", "svg", "math", "base"):
            self.found.append(tag)
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"{tag}[{name}]")
            if name in ("href", "src", "action", "formaction") and (
                value or ""
            ).strip().lower().startswith(("javascript:", "data:text/html")):
                self.found.append(f"{tag}[{name}={value}]")


def active_parts(html: str) -> list[str]:
    reader = _Active()
    reader.feed(html)
    return sorted(reader.found)


def feed_item_html(xml: str) -> list[str]:
    """The HTML of each feed item, as a feed reader would render it."""
    root = ElementTree.fromstring(xml)
    return [
        el.text or ""
        for el in root.iter()
        if el.tag.rsplit("}", 1)[-1] in ("description", "content", "summary", "encoded", "title")
    ]


# markup shown back -------------------------------------------------------------------


@pytest.mark.parametrize("payload", PAYLOADS)
def test_markup_in_the_subscribe_form_comes_back_as_text(
    client: TestClient, store: Store, payload: str
) -> None:
    _, baseline = subscribe(client, address="not an address", interests="quantum")
    status, page = subscribe(client, address=payload, interests=payload + ", " + "x" * 90)
    assert status == 400
    assert active_parts(page) == active_parts(baseline)
    if "{{" in payload:  # shown as typed: no template ran on it
        assert "{{ 7*7 }}{% if 1 %}x{% endif %}" in page
    assert store.subscribers() == []


@pytest.fixture
def hostile_papers(papers: Store, settings: Settings, tmp_path: Path) -> Store:
    """Papers whose titles and abstracts carry every payload, matching "quantum"."""
    lines = [
        json.dumps(
            {
                "id": f"2611.{90000 + n}",
                "title": f"{payload} quantum error correction {n}",
                "summary": f"We study quantum codes. {payload} More quantum.",
                "authors": [payload],
                "categories": ["quant-ph"],
            }
        )
        for n, payload in enumerate(PAYLOADS)
    ]
    source = tmp_path / "hostile.jsonl"
    source.write_text("\n".join(lines) + "\n")
    report = collect(papers, [FileSource("hostile", str(source))], now=NOW)
    assert report.sources[0].new == len(PAYLOADS)
    return papers


def test_markup_in_profiles_and_papers_reaches_pages_emails_and_feeds_as_text(
    client: TestClient, hostile_papers: Store, tokens: Tokens, settings: Settings
) -> None:
    store = hostile_papers
    sid = active(store)
    manage = f"/m/{tokens.make('manage', sid)}"
    baseline = client.get(manage).text
    data = manage_data(baseline)
    data.update(
        {
            "p0.name": PAYLOADS[1][:90],
            "p0.keywords": "quantum, " + ", ".join(p[:60] for p in PAYLOADS),
            "p0.authors": PAYLOADS[0],
            "p0.exclude": PAYLOADS[2],
            "action": "save",
        }
    )
    saved = client.post(manage, data=data, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    page = client.get(manage).text
    assert active_parts(page) == active_parts(baseline)
    preview = client.post(manage, data={**data, "action": "preview"}).text
    assert active_parts(preview) == active_parts(baseline)

    report = run_day(store, settings, now=NOW, day=NOW.date(), collect_first=False, workers=1)
    assert report.sent == 1
    (message,) = outbox(settings)
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "quantum error correction" in html
    assert active_parts(html) == []
    assert "\n" not in str(message["Subject"]) and message["Bcc"] is None

    feed = client.get(f"/f/{tokens.make('feed', sid)}.rss")
    assert feed.status_code == 200
    items = feed_item_html(feed.text)  # well-formed XML, or this raises
    assert any("quantum error correction" in item for item in items)
    assert all(active_parts(item) == [] for item in items)

    (delivery,) = store.deliveries(subscriber_id=sid)
    archive = client.get(f"/a/{tokens.make('archive', sid, delivery.id)}")
    assert archive.status_code == 200 and active_parts(archive.text) == []


# header injection and overlong fields ---------------------------------------------------

INJECTED = [
    "ada@example.org\r\nBcc: mallory@example.org",
    "ada@example.org\nSubject: free money",
    "ada@example.org%0d%0aBcc:mallory@example.org",
    '"ada\r\nBcc: mallory@example.org"@example.org',
    "ada@example.org\x00mallory@example.org",
    "ada@example.org, mallory@example.org",
    "Ada <ada@example.org>",
]


@pytest.mark.parametrize("address", INJECTED)
def test_an_address_carrying_headers_is_refused_and_nothing_is_mailed(
    client: TestClient, store: Store, settings: Settings, address: str
) -> None:
    status, page = subscribe(client, address=address)
    assert status == 400 and "Traceback" not in page
    assert store.subscribers() == [] and outbox(settings) == []


OVERLONG = {
    "email": "a" * 300 + "@example.org",
    "interests": "quantum " * 2_000,
    "send_hour": "9" * 5_000,
    "timezone": "Europe/" + "x" * 5_000,
    "csrf": "c" * 50_000,
    "unknown": "u" * 100_000,
}


@pytest.mark.parametrize("field", sorted(OVERLONG))
def test_an_overlong_subscribe_field_is_refused_and_stores_nothing(
    client: TestClient, store: Store, settings: Settings, field: str
) -> None:
    page = client.get("/")
    data = {
        "csrf": csrf_of(page.text),
        "email": "ada@example.org",
        "interests": "quantum",
        "send_hour": "6",
        "timezone": "UTC",
        field: OVERLONG[field],
    }
    response = client.post("/", data=data)
    if field == "unknown":  # a field the form does not have is ignored
        assert response.status_code == 200 and len(store.subscribers()) == 1
        return
    assert response.status_code in (400, 403, 413) and "Traceback" not in response.text
    assert store.subscribers() == [] and outbox(settings) == []


@pytest.mark.parametrize(
    ("field", "value"), [("send_hour", "²"), ("p0.max_papers", "²"), ("p0.max_papers", "1" * 5_000)]
)
def test_a_number_field_of_odd_digits_is_a_form_error(
    client: TestClient, store: Store, tokens: Tokens, field: str, value: str
) -> None:
    sid = active(store)
    url = f"/m/{tokens.make('manage', sid)}"
    data = manage_data(client.get(url).text)
    data.update({field: value, "action": "save"})
    response = client.post(url, data=data, follow_redirects=False)
    assert response.status_code == 400


def test_a_content_length_of_thousands_of_digits_is_refused(client: TestClient) -> None:
    response = client.post("/", headers={"Content-Length": "9" * 5_000}, content=b"")
    assert response.status_code == 413


@pytest.mark.parametrize(
    "field", ["p0.name", "p0.keywords", "p0.authors", "p0.exclude", "p0.categories", "p0.seeds"]
)
def test_an_overlong_manage_field_is_refused_and_saves_nothing(
    client: TestClient, store: Store, tokens: Tokens, field: str
) -> None:
    sid = active(store)
    url = f"/m/{tokens.make('manage', sid)}"
    before = store.profiles(sid)
    data = manage_data(client.get(url).text)
    data.update({field: "quantum, " * 20_000, "action": "save"})
    response = client.post(url, data=data, follow_redirects=False)
    assert response.status_code in (400, 413) and "Traceback" not in response.text
    assert store.profiles(sid) == before


# damaged tokens and GET -----------------------------------------------------------------


def tokened_urls(tokens: Tokens, sid: int, delivery_id: int) -> dict[str, str]:
    return {
        "confirm": f"/c/{tokens.make('confirm', sid)}",
        "manage": f"/m/{tokens.make('manage', sid)}",
        "unsubscribe": f"/u/{tokens.make('unsubscribe', sid)}",
        "feed": f"/f/{tokens.make('feed', sid)}.rss",
        "archive": f"/a/{tokens.make('archive', sid, delivery_id)}",
        "feedback": f"/fb/{tokens.make('feedback', sid)}/up/main/2606.27442",
    }


def token_of(url: str) -> str:
    return url.split("/")[2].removesuffix(".rss")


@pytest.mark.parametrize(
    "purpose", ["confirm", "manage", "unsubscribe", "feed", "archive", "feedback"]
)
def test_a_truncated_or_extended_token_is_not_found_and_changes_nothing(
    client: TestClient, papers: Store, tokens: Tokens, purpose: str
) -> None:
    sid = active(papers)
    did = sent_digest(papers, sid)
    url = tokened_urls(tokens, sid, did)[purpose]
    assert client.get(url).status_code == 200
    token = token_of(url)
    before = state(papers)
    for bad in (
        token[:-1],
        token[: len(token) // 2],
        token[:1],
        token + "A",
        token + "." + token,
        token.upper(),
        "%00" + token,
        token.replace(".", "..", 1),
    ):
        for method in ("GET", "POST"):
            response = client.request(
                method,
                url.replace(token, bad, 1),
                data={"csrf": "x", "List-Unsubscribe": "One-Click"},
            )
            assert response.status_code in (404, 405), (bad, method, response.status_code)
            assert "Traceback" not in response.text
    assert state(papers) == before


def state(store: Store) -> tuple[object, ...]:
    with store.engine.connect() as conn:
        subs = conn.execute(select(subscribers).order_by(subscribers.c.id)).all()
        profs = conn.execute(select(profiles).order_by(profiles.c.id)).all()
    return tuple(map(tuple, subs)), tuple(map(tuple, profs))


def test_no_get_changes_anything(client: TestClient, papers: Store, tokens: Tokens) -> None:
    sid = active(papers)
    did = sent_digest(papers, sid)
    pending = papers.add_subscriber("pending@example.org", now=NOW, status="pending")
    urls = tokened_urls(tokens, sid, did)
    urls["confirm"] = f"/c/{tokens.make('confirm', pending.id)}"
    before = state(papers)
    for purpose, url in urls.items():
        for method in ("GET", "HEAD"):
            response = client.request(method, url)
            assert response.status_code in (200, 405), (purpose, method)
    assert state(papers) == before


# Host header and redirects --------------------------------------------------------------

POISON = {
    "Host": "evil.example.net",
    "X-Forwarded-Host": "evil.example.net",
    "Forwarded": "host=evil.example.net",
}


def test_a_poisoned_host_header_never_reaches_the_links_written(
    client: TestClient, store: Store, settings: Settings, tokens: Tokens
) -> None:
    page = client.get("/", headers=POISON)
    data = {
        "csrf": csrf_of(page.text),
        "email": "ada@example.org",
        "interests": "quantum",
        "send_hour": "6",
        "timezone": "UTC",
    }
    response = client.post("/", data=data, headers=POISON)
    assert response.status_code == 200
    assert "evil.example.net" not in page.text + response.text
    (mail,) = outbox(settings)
    body = mail.as_string()
    assert "evil.example.net" not in body and f"{BASE}/c/" in body
    sid = active(store, "grace@example.org")
    manage = client.get(f"/m/{tokens.make('manage', sid)}", headers=POISON).text
    feed = client.get(f"/f/{tokens.make('feed', sid)}.rss", headers=POISON).text
    assert "evil.example.net" not in manage + feed


OFFSITE = [
    "//evil.example.net/",
    "//evil.example.net/%2F..",
    "/\\evil.example.net",
    "/%2F%2Fevil.example.net",
    "/%5Cevil.example.net",
    "/c/x/?next=https://evil.example.net",
    "/m/x?saved=https://evil.example.net",
    "/static/style.css/",
    "/static//evil.example.net",
    "/u/x/",
]


@pytest.mark.parametrize("target", OFFSITE)
def test_no_answer_redirects_off_the_site(client: TestClient, target: str) -> None:
    for method, headers in (("GET", {}), ("POST", {}), ("GET", POISON)):
        response = client.request(method, target, headers=headers, follow_redirects=False)
        location = response.headers.get("location", "")
        assert not location or (
            location.startswith("/") and not location.startswith(("//", "/\\"))
        ), (method, headers, location)
        assert response.status_code < 500


def test_the_only_redirects_go_to_a_readers_own_manage_page(
    client: TestClient, store: Store, tokens: Tokens
) -> None:
    pending = store.add_subscriber("ada@example.org", now=NOW, status="pending")
    url = f"/c/{tokens.make('confirm', pending.id)}"
    done = client.post(url, data={"csrf": csrf_of(client.get(url).text)}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].startswith("/m/")
