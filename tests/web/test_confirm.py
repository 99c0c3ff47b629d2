"""Confirming a subscription."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from digest.settings import Settings
from digest.store import Store
from digest.tokens import Tokens
from tests.conftest import NOW
from tests.web.helpers import (
    Clock,
    csrf_of,
    link_in,
    outbox,
    subscribe,
)

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
