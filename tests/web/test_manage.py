"""The manage page: profiles, preview, seed papers."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from digest.day.run import run_day
from digest.models import Keyword, Profile, SeedPaper
from digest.settings import Settings
from digest.store import Store
from digest.tokens import Tokens
from tests.conftest import NOW
from tests.feed_server import FeedServer, Route
from tests.web.helpers import (
    BASE,
    Clock,
    active,
    manage_data,
    outbox,
)

# manage -------------------------------------------------------------------------------


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
    assert "Strong match — " in preview, "relevance in words, as in the email"


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
            "p0.cutoff": "strong",
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
    assert (first.cutoff, second.cutoff) == ("strong", "good"), "good matches by default"
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
    assert '<option value="strong" selected>Only strong matches</option>' in shown.text


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
        ({"p0.cutoff": "loose"}, "p0-cutoff", "one of the listed options"),
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
    arxiv_api: Callable[[], list[list[str]]],
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
    from digest.web import manage_form as forms

    many = "\n".join(f"keyword {i}" for i in range(201))
    form = forms.ManageForm([forms.ProfileFields(name="x", keywords=many)], forms.SettingsFields())
    assert forms.validate_manage(form, [], lambda ids: (ids, [])) is None
    assert "at most 200 items" in form.errors["p0.keywords"]


def test_seed_papers_are_looked_up_in_the_store_then_on_arxiv(
    client: TestClient, papers: Store, tokens: Tokens, arxiv_api: Callable[[], list[list[str]]]
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
    assert arxiv_api() == [["1707.08567"]], "only the unknown id is fetched"


def test_an_arxiv_outage_is_not_a_wrong_id(
    client: TestClient, papers: Store, tokens: Tokens, settings: Settings, feed_server: FeedServer
) -> None:
    settings.http.arxiv_api = feed_server.serve(
        "/api/query", Route(b"", script=[503, 503, 503, 503])
    )
    sid = active(papers)
    before = papers.profiles(sid)
    url = f"/m/{tokens.make('manage', sid)}"
    data = manage_data(client.get(url).text)
    data.update({"p0.seeds": "1707.08567", "action": "save"})
    response = client.post(url, data=data)
    assert response.status_code == 400
    assert "arXiv could not be reached just now" in response.text
    assert "Not found on arXiv" not in response.text
    assert papers.profiles(sid) == before
