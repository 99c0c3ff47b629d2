"""Unsubscribing, from the page and in one click (RFC 8058)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from digest.settings import Settings
from digest.store import Store
from digest.tokens import Tokens
from digest.web import create_app
from tests.conftest import NOW
from tests.web.helpers import (
    BASE,
    Clock,
    active,
    csrf_of,
    link_in,
    outbox,
    subscribe,
)

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
