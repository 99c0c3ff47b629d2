"""Signed links: forged, expired, wrong-purpose and out-of-range tokens."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from fastapi.testclient import TestClient

from digest.settings import Settings
from digest.store import Store
from digest.tokens import Tokens
from tests.conftest import NOW
from tests.web.helpers import (
    Clock,
    active,
    csrf_of,
    link_in,
    outbox,
)

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
