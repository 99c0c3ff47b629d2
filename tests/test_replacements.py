"""New, cross-listed and replaced papers: marked as arXiv announced them, and a new
version of an older paper sent by default only to the readers who follow it."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import pytest

from digest.day.run import run_day
from digest.models import Keyword, Paper, Profile
from digest.score.textmodel import TextModel
from digest.settings import Settings
from digest.sources.formats import parse
from digest.store import Store
from tests.conftest import FIXTURES, NOW

LEGACY = FIXTURES / "feeds/arxiv-rss/legacy_export_rss_rdf_cs_2018-08-30.rdf"
CURRENT = (
    FIXTURES
    / "feeds/arxiv-rss/rss_arxiv_org_cs.LG+cs.AI+cs.CL+stat.ML_2026-09-24_trimmed4items.xml"
)
RESERVOIR = "1602.05901"  # "Development of A Platform for Large-scale Reservoir Simulations…" v6


def test_announce_types_are_read_from_both_arxiv_rss_formats() -> None:
    legacy = parse(LEGACY.read_bytes(), source="legacy").papers
    assert Counter(p.announce for p in legacy) == {"new": 111, "replace": 74}
    (old,) = [p for p in legacy if p.id == RESERVOIR]
    assert (old.version, old.announce) == (6, "replace")
    current = parse(CURRENT.read_bytes(), source="rss").papers
    assert [p.announce for p in current] == ["new", "new", "cross", "replace"]


def test_a_new_version_of_a_stored_paper_joins_the_batch_that_announced_it(
    store: Store,
) -> None:
    first = store.new_batch(NOW, ["rss"])
    store.add_papers(first, [Paper("2009.13987", "Old title", version=1, announce="new")], now=NOW)
    second = store.new_batch(NOW, ["rss"])
    new_version = Paper("2009.13987", "New title", version=3, announce="replace")
    assert store.add_papers(second, [new_version], now=NOW) == (0, 1)
    (moved,) = store.papers(batch_id=second)
    assert (moved.title, moved.version, moved.announce) == ("New title", 3, "replace")
    third = store.new_batch(NOW, ["rss"])
    assert store.add_papers(third, [new_version], now=NOW) == (0, 0)
    assert store.papers(batch_id=third) == []


@pytest.fixture
def legacy_day(settings: Settings, store: Store) -> Store:
    papers = parse(LEGACY.read_bytes(), source="legacy").papers
    batch = store.new_batch(NOW, ["legacy"])
    store.add_papers(batch, papers, now=NOW)
    store.close_batch(batch)
    store.put_model(TextModel.fit(papers).to_bytes(), now=datetime(2026, 11, 20, 5))
    interest = [Keyword(phrase="reservoir simulation"), Keyword(phrase="parallel computer")]
    readers = {
        "fan@example.org": Profile(name="hpc", keywords=interest, liked=[RESERVOIR]),
        "other@example.org": Profile(name="hpc", keywords=interest),
    }
    for email, profile in readers.items():
        sub = store.add_subscriber(email, now=NOW, status="active", send_hour=6)
        store.save_profiles(sub.id, [profile], now=NOW)
    return store


def picked(store: Store, settings: Settings) -> dict[str, dict[str, str]]:
    previews = run_day(store, settings, now=NOW, dry_run=True).previews
    return {
        email: {sp.paper.id: sp.why for s in d.sections for sp in s.papers}
        for email, d in previews.items()
    }


def test_replacements_go_only_to_the_readers_who_follow_the_paper(
    legacy_day: Store, settings: Settings
) -> None:
    got = picked(legacy_day, settings)
    assert RESERVOIR in got["fan@example.org"]
    assert "new version (v6)" in got["fan@example.org"][RESERVOIR]
    assert RESERVOIR not in got["other@example.org"]
    replaced = {p.id for p in legacy_day.papers() if p.announce == "replace"}
    assert not replaced & set(got["other@example.org"])
    assert got["other@example.org"], "new papers still come"


def test_replacements_can_go_to_everyone_or_no_one(legacy_day: Store, settings: Settings) -> None:
    everyone = settings.model_copy(
        update={"day": settings.day.model_copy(update={"replacements": "all"})}
    )
    assert RESERVOIR in picked(legacy_day, everyone)["other@example.org"]
    nobody = settings.model_copy(
        update={"day": settings.day.model_copy(update={"replacements": "none"})}
    )
    got = picked(legacy_day, nobody)
    assert RESERVOIR not in got["fan@example.org"] and RESERVOIR not in got["other@example.org"]


def test_the_why_of_a_real_day_varies_from_pick_to_pick(
    legacy_day: Store, settings: Settings
) -> None:
    # every pick that matched, not just the strongest: enough picks to vary
    other = legacy_day.subscriber("other@example.org")
    assert other is not None
    (profile,) = legacy_day.profiles(other.id)
    legacy_day.save_profiles(other.id, [profile.model_copy(update={"cutoff": "any"})], now=NOW)
    whys = list(picked(legacy_day, settings)["other@example.org"].values())
    assert len(whys) >= 5
    assert len(set(whys)) >= 4, whys
    assert whys.count("similar to your interests") <= len(whys) // 4, whys
