"""Form tokens and request limits."""

from __future__ import annotations

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
    outbox,
)

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
