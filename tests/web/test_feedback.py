"""Feedback links: only for papers sent, within the profile limits."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from fastapi.testclient import TestClient

from digest.day.run import run_day
from digest.models import Profile
from digest.settings import Settings
from digest.store import Item, Store
from digest.tokens import Tokens
from digest.web.security import Csrf
from tests.conftest import NOW
from tests.web.helpers import (
    BASE,
    active,
    csrf_of,
    outbox,
    path,
    sent_digest,
)

# feedback -----------------------------------------------------------------------------


def test_feedback_get_asks_and_post_records(
    client: TestClient, papers: Store, tokens: Tokens
) -> None:
    sid = active(papers)
    sent_digest(papers, sid)
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
    sent_digest(store, sid, Item("astro/cosmo", "astro-ph/0601001", 0.5, "in astro-ph"))
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
    sent_digest(store, sid)
    token = tokens.make("feedback", sid)
    assert client.get(f"/fb/{token}/up/gone/2606.27442").status_code == 404
    assert client.get(f"/fb/{token}/sideways/main/2606.27442").status_code == 404


def test_feedback_only_counts_for_papers_in_the_readers_own_digests(
    client: TestClient, papers: Store, tokens: Tokens, settings: Settings
) -> None:
    sid = active(papers)
    other = active(papers, "other@example.org")
    sent_digest(papers, other)
    url = f"/fb/{tokens.make('feedback', sid)}/up/main/"
    csrf = Csrf(settings.secret_key.get_secret_value())  # type: ignore[union-attr]
    for paper_id in ("2606.27442", "made-up-" + "x" * 280, "2606.99999"):
        page = client.get(url + paper_id)
        assert page.status_code == 404 and "This link is not valid" in page.text
        posted = client.post(url + paper_id, data={"csrf": csrf.make(url + paper_id)})
        assert posted.status_code == 404 and "This link is not valid" in posted.text
    assert papers.profiles(sid)[0].liked == []
    sent_digest(papers, sid)
    page = client.get(url + "2606.27442")
    client.post(url + "2606.27442", data={"csrf": csrf_of(page.text)})
    assert papers.profiles(sid)[0].liked == ["2606.27442"]


def test_feedback_keeps_the_newest_papers_up_to_the_profile_limit(
    client: TestClient, papers: Store, tokens: Tokens
) -> None:
    from digest.models import MAX_FEEDBACK

    old = [f"old-{i}" for i in range(MAX_FEEDBACK)]
    sid = active(papers, liked=old)
    sent_digest(papers, sid)
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
    sent_digest(papers, sid)
    with time_machine.travel(datetime(2026, 1, 1, 12, 0), tick=False):
        url = f"/fb/{tokens.make('feedback', sid)}/up/main/2606.27442"
    age = timedelta(seconds=settings.web.feedback_max_age)
    with time_machine.travel(datetime(2026, 1, 1, 12, 0) + age - timedelta(hours=1), tick=False):
        assert client.get(url).status_code == 200
    with time_machine.travel(datetime(2026, 1, 1, 12, 0) + age + timedelta(hours=1), tick=False):
        page = client.get(url)
        assert page.status_code == 404 and "This link has expired" in page.text
    assert papers.profiles(sid)[0].liked == []


def test_pages_show_latex_in_titles_as_text(settings: Settings) -> None:
    from digest.models import Paper
    from digest.web.core import template_env

    paper = Paper(id="2401.00001", title=r"$\beta$-Stars and $O(\log n)$ bounds", abstract="")
    html = (
        template_env(settings)
        .get_template("web/feedback.html")
        .render(
            vote="up",
            profile="p",
            paper_id=paper.id,
            paper=paper,
            manage_path="/m/x",
            csrf="c",
            nonce="n",
            site_name="digest",
            title="Feedback",
        )
    )
    assert "β-Stars and O(log n) bounds" in html
    assert "$" not in html
