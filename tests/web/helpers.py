"""What the web app's tests share: constants, a clock, and small helpers that
read mail and forms."""

from __future__ import annotations

import email
import re
from datetime import date, datetime, timedelta
from email import policy
from email.message import EmailMessage
from html.parser import HTMLParser

from fastapi.testclient import TestClient

from digest.models import Keyword, Profile
from digest.settings import Settings
from digest.store import Due, Finished, Item, Store
from tests.conftest import FIXTURES, NOW

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


def sent_digest(store: Store, sid: int, *items: Item, day: date = date(2026, 11, 20)) -> int:
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
