"""Scoring behaviour on real papers from a fixture batch."""

from __future__ import annotations

import random
import re
from dataclasses import replace

import numpy as np
import pytest

from digest.models import Keyword, Paper, Profile, ScoredPaper, SeedPaper
from digest.rank import rank_papers
from digest.score import (
    ProfileVector,
    assign_sections,
    profile_vectors,
    rank_batch,
    score_batch,
)
from digest.score.textmodel import TextModel
from digest.sources.formats import parse
from tests.conftest import FIXTURES


@pytest.fixture(scope="module")
def papers() -> list[Paper]:
    found = parse((FIXTURES / "batches" / "2026-06-30.jsonl").read_bytes(), source="b").papers
    return list({p.id: p for p in found}.values())


@pytest.fixture(scope="module")
def model(papers: list[Paper]) -> TextModel:
    return TextModel.fit(papers)


def ranked_ids(papers: list[Paper], profile: Profile, model: TextModel) -> list[str]:
    """Every paper, best first."""
    everything = profile.model_copy(
        update={"max_papers": 10_000, "min_score": float("-inf"), "cutoff": "any"}
    )
    return [sp.paper.id for sp in rank_papers(papers, everything, model=model)]


def mentions(paper: Paper, word: str) -> bool:
    return re.search(rf"\b{word}s?\b", f"{paper.title} {paper.abstract}", re.IGNORECASE) is not None


def by_id(papers: list[Paper], pid: str) -> Paper:
    return next(p for p in papers if p.id == pid)


def test_excluded_phrases_drop_papers(papers: list[Paper], model: TextModel) -> None:
    profile = Profile(
        name="p", keywords=[Keyword(phrase="language model")], max_papers=50, cutoff="any"
    )
    before = rank_papers(papers, profile, model=model)
    assert any(mentions(sp.paper, "benchmark") for sp in before)
    after = rank_papers(papers, profile.model_copy(update={"exclude": ["benchmarks"]}), model=model)
    assert after and not any(mentions(sp.paper, "benchmark") for sp in after)


def test_an_author_match_ranks_a_paper_up_and_says_so(
    papers: list[Paper], model: TextModel
) -> None:
    target = papers[137]
    base = Profile(name="p", keywords=[Keyword(phrase="learning")])
    before = ranked_ids(papers, base, model).index(target.id)
    boosted = base.model_copy(update={"authors": [target.authors[0].upper()]})
    assert ranked_ids(papers, boosted, model).index(target.id) < before
    top = rank_papers(papers, boosted, model=model)[0]
    assert target.authors[0] in top.paper.authors
    assert f"author: {target.authors[0]}" in top.why


def test_category_prefix_matches_on_dot_boundaries(papers: list[Paper], model: TextModel) -> None:
    cs = rank_papers(papers, Profile(name="p", categories=["cs"], max_papers=200), model=model)
    assert cs and all(any(c.startswith("cs.") for c in sp.paper.categories) for sp in cs)
    partial = rank_papers(
        papers, Profile(name="p", categories=["cs.L"], max_papers=200), model=model
    )
    assert partial == []
    it = rank_papers(papers, Profile(name="p", categories=["cs.IT"]), model=model)
    assert it and all("cs.IT" in sp.paper.categories for sp in it)
    assert "in cs.IT" in it[0].why


def test_keyword_weights_matter(papers: list[Paper], model: TextModel) -> None:
    robots = Profile(
        name="p", keywords=[Keyword(phrase="robot", weight=5), Keyword(phrase="quantum")]
    )
    quanta = Profile(
        name="p", keywords=[Keyword(phrase="robot"), Keyword(phrase="quantum", weight=5)]
    )
    assert mentions(rank_papers(papers, robots, model=model)[0].paper, "robot")
    assert mentions(rank_papers(papers, quanta, model=model)[0].paper, "quantum")


def test_a_seed_papers_near_duplicates_rank_first_and_why_names_it(
    papers: list[Paper], model: TextModel
) -> None:
    seed = by_id(papers, "2606.28729")
    near = [replace(seed, id="9999.00001", title=seed.title + " (extended)"), *papers]
    near = [p for p in near if p.id != seed.id]
    profile = Profile(name="p", seed_papers=[SeedPaper(title=seed.title, abstract=seed.abstract)])
    top = rank_papers(near, profile, model=model)[0]
    assert top.paper.id == "9999.00001"
    assert "like \u201cConvertible Codes" in top.why


def test_liked_near_duplicates_rank_up_and_disliked_ones_down(
    papers: list[Paper], model: TextModel
) -> None:
    base = Profile(name="p", keywords=[Keyword(phrase="model")])
    middle = ranked_ids(papers, base, model)[len(papers) // 4]
    liked, disliked = by_id(papers, "2606.28729"), by_id(papers, middle)
    pool = [*papers, replace(liked, id="9999.00001"), replace(disliked, id="9999.00002")]
    before = ranked_ids(pool, base, model)
    fed = base.model_copy(update={"liked": [liked.id], "disliked": [disliked.id]})
    after = ranked_ids(pool, fed, model)
    assert after.index("9999.00001") < before.index("9999.00001")
    assert after.index("9999.00001") <= 1
    assert after.index("9999.00002") > before.index("9999.00002")


def test_ties_are_broken_by_paper_id(model: TextModel) -> None:
    twins = [Paper(id=f"2401.0000{i}", title="Same title", abstract="Same text") for i in (3, 1, 2)]
    ranked = rank_papers(twins, Profile(name="p", keywords=[Keyword(phrase="same")]), model=model)
    assert [sp.paper.id for sp in ranked] == ["2401.00001", "2401.00002", "2401.00003"]


def test_all_profiles_in_one_pass_match_one_at_a_time(
    papers: list[Paper], model: TextModel
) -> None:
    profiles = [
        Profile(name="a", keywords=[Keyword(phrase="graph")], exclude=["survey"]),
        Profile(name="b", categories=["cs.CV"], authors=[papers[3].authors[0]]),
        Profile(name="c", seed_papers=[SeedPaper(id=papers[9].id)], max_papers=5, cutoff="any"),
    ]
    known = {p.id: p for p in papers}
    vectors, seeds = profile_vectors(profiles, model, known)
    together = score_batch(vectors, papers, model.embed(papers), seeds=seeds, chunk=2)
    for profile, ranked in zip(profiles, together, strict=True):
        alone = rank_papers(papers, profile, model=model)
        assert [sp.paper.id for sp in ranked] == [sp.paper.id for sp in alone]
    assert len(together[2]) == 5


def test_why_fits_on_one_line(papers: list[Paper], model: TextModel) -> None:
    profile = Profile(
        name="p",
        keywords=[Keyword(phrase=w) for w in ("learning", "model", "data", "network")],
        categories=["cs"],
        seed_papers=[SeedPaper(title="A" * 300, abstract="learning models from data")],
    )
    for sp in rank_papers(papers, profile, model=model):
        assert 0 < len(sp.why) <= 160 and "\n" not in sp.why


def test_sections_put_a_shared_paper_only_in_its_best_profile() -> None:
    shared, only_a, only_b = (Paper(id=i, title=i) for i in ("x", "a", "b"))
    sections = assign_sections(
        [
            ("first", [ScoredPaper(shared, 0.4, ""), ScoredPaper(only_a, 0.3, "")]),
            ("second", [ScoredPaper(shared, 0.9, ""), ScoredPaper(only_b, 0.1, "")]),
        ]
    )
    assert [(n, [sp.paper.id for sp in ps]) for n, ps in sections] == [
        ("first", ["a"]),
        ("second", ["x", "b"]),
    ]


def test_text_model_survives_a_round_trip(papers: list[Paper], model: TextModel) -> None:
    again = TextModel.from_bytes(model.to_bytes())
    assert (again.embed(papers[:5]) == model.embed(papers[:5])).all()


def test_stored_paper_embeddings_are_used_instead_of_embedding_again(
    papers: list[Paper], model: TextModel
) -> None:
    profile = Profile(name="p", seed_papers=[{"id": papers[0].id}, {"id": papers[1].id}])
    known = {p.id: p for p in papers}
    made = model.embed(papers[:2])
    (plain,), _ = profile_vectors([profile], model, known)
    (reused,), seeds = profile_vectors(
        [profile], model, known, {papers[0].id: made[0], papers[1].id: made[1]}
    )
    np.testing.assert_allclose(reused.text, plain.text, atol=1e-6)
    # a stored vector is taken as it is, not recomputed
    other = np.zeros_like(made[0])
    other[0] = 1.0
    (swapped,), seeds = profile_vectors([profile], model, known, {papers[0].id: other})
    np.testing.assert_array_equal(seeds.vectors[0], other)
    assert not np.allclose(swapped.text, plain.text)


def test_a_fit_gives_the_embeddings_embed_would(papers: list[Paper]) -> None:
    model, vectors = TextModel.fit_embed(papers)
    np.testing.assert_allclose(vectors, model.embed(papers), atol=1e-5)


def test_three_dislikes_bring_in_a_learned_direction(
    papers: list[Paper], model: TextModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    import digest.score.profile as profile_module

    liked = [p.id for p in papers[:3]]
    disliked = [p.id for p in papers[3:6]]
    fed = Profile(name="p", liked=liked, disliked=disliked)
    known = {p.id: p for p in papers}
    (learned,), _ = profile_vectors([fed], model, known)
    monkeypatch.setattr(profile_module, "MIN_FEEDBACK", 100)
    (pushed_only,), _ = profile_vectors([fed], model, known)
    assert not np.allclose(learned.text, pushed_only.text), "the learned path was not taken"
    vectors = {p.id: v for p, v in zip(papers[:6], model.embed(papers[:6]), strict=True)}
    liked_sims = [float(learned.text @ vectors[i]) for i in liked]
    disliked_sims = [float(learned.text @ vectors[i]) for i in disliked]
    assert min(liked_sims) > max(disliked_sims)


def test_a_model_in_an_older_layout_reads_as_unreadable(model: TextModel) -> None:
    older = TextModel.from_bytes(model.to_bytes())
    del older.background
    with pytest.raises(TypeError):
        TextModel.from_bytes(older.to_bytes())


def test_a_profile_with_a_few_papers_leans_away_from_what_every_paper_shares(
    papers: list[Paper], model: TextModel
) -> None:
    seeds = [p for p in papers if mentions(p, "segmentation")][:5]
    profile = Profile(name="p", seed_papers=[SeedPaper(id=p.id) for p in seeds])
    known = {p.id: p for p in papers}
    (learned,), _ = profile_vectors([profile], model, known)
    (two,), _ = profile_vectors(
        [profile.model_copy(update={"seed_papers": [SeedPaper(id=p.id) for p in seeds[:2]]})],
        model,
        known,
    )
    centroid = model.embed(seeds).mean(axis=0)
    centroid /= np.linalg.norm(centroid)
    common = model.background.mean(axis=0)
    assert float(learned.text @ common) < float(centroid @ common)
    # two papers are too few to learn from: their vector is their centroid
    pair = model.embed(seeds[:2]).mean(axis=0)
    np.testing.assert_allclose(two.text, pair / np.linalg.norm(pair), atol=1e-5)
    top = [
        sp.paper.id
        for sp in rank_papers(
            papers, profile.model_copy(update={"max_papers": 10, "cutoff": "any"}), model=model
        )
    ]
    assert sum(mentions(known[i], "segmentation") for i in top) >= 7


def test_the_seeds_categories_do_not_empty_a_digest_cut_at_its_relevance(
    papers: list[Paper], model: TextModel
) -> None:
    """A seed-only profile on a batch that has categories: the seeds' categories lift
    every paper listed in them, which must not raise the bar a paper's text has to
    clear above nearly all of them. The digest keeps what the text alone keeps."""
    seeds = [p for p in papers if mentions(p, "segmentation")][:5]
    profile = Profile(name="p", seed_papers=[SeedPaper(id=p.id) for p in seeds])
    known = {p.id: p for p in papers}
    rest = [p for p in papers if p not in seeds]
    assert all(p.categories for p in rest)
    bare = [replace(p, categories=()) for p in rest]
    with_categories = {sp.paper.id for sp in rank_papers(rest, profile, model=model, known=known)}
    text_alone = {sp.paper.id for sp in rank_papers(bare, profile, model=model, known=known)}
    assert text_alone
    assert with_categories == text_alone


def test_a_digest_is_cut_at_its_relevance_not_padded_to_max_papers(
    papers: list[Paper], model: TextModel
) -> None:
    """Three papers say "scene graph"; the rest only resemble the words. By default
    the digest holds the three, not twenty; ``any`` pads it again, ``strong`` keeps
    a subset of ``good``."""

    def picks(cutoff: str) -> list[ScoredPaper]:
        profile = Profile(name="p", keywords=[Keyword(phrase="scene graph")], cutoff=cutoff)
        return rank_papers(papers, profile, model=model)

    saying = {p.id for p in papers if mentions(p, "scene graph")}
    assert len(saying) == 3
    good, strong, everything = picks("good"), picks("strong"), picks("any")
    assert {sp.paper.id for sp in good} == saying
    assert {sp.paper.id for sp in strong} <= {sp.paper.id for sp in good}
    assert len(everything) == 20
    assert sum(sp.why == "similar to your interests" for sp in everything) == 17


def test_the_cut_off_is_learned_from_the_days_scores(papers: list[Paper], model: TextModel) -> None:
    """With nothing matched by name, what stays is what stands out from the day's
    papers for this profile: a handful, each scoring well above the day's usual."""
    profile = Profile(name="p", keywords=[Keyword(phrase="knot theory")])
    kept = rank_papers(papers, profile, model=model)
    everything = rank_papers(
        papers,
        profile.model_copy(update={"max_papers": 1000, "cutoff": "any", "min_score": -np.inf}),
        model=model,
    )
    scores = np.array([sp.score for sp in everything])
    assert len(scores) == len(papers)
    assert 0 < len(kept) < 20
    assert min(sp.score for sp in kept) >= scores.mean() + 3 * scores.std() - 1e-3


def test_what_a_profile_names_is_never_cut_for_being_common(
    papers: list[Paper], model: TextModel
) -> None:
    """A category that a third of the day's papers share would fail an "above the
    usual" test; a paper in an asked-for category is a match by name and stays."""
    in_cv = [p for p in papers if "cs.CV" in p.categories]
    assert len(in_cv) > 60
    picks = rank_papers(papers, Profile(name="v", categories=["cs.CV"]), model=model)
    assert len(picks) == 20
    assert all("cs.CV" in sp.paper.categories for sp in picks)


def test_every_kept_pick_is_written_out_even_below_one_that_was_cut(
    papers: list[Paper], model: TextModel
) -> None:
    """A paper matched by name can score below a text-only one that the cut-off
    drops; it is still a pick, and the picks of a row come first, in order."""
    rng = random.Random(5)
    profiles = []
    for i in range(200):
        seeds = rng.sample(papers, 5)
        words = [w for w in re.findall(r"[A-Za-z]{6,}", seeds[0].title)][:2] or ["learning"]
        profiles.append(
            Profile(
                name=f"p{i}",
                keywords=[Keyword(phrase=w.lower()) for w in words],
                seed_papers=[SeedPaper(id=p.id) for p in seeds],
            )
        )
    vectors, seeds_ = profile_vectors(profiles, model, {p.id: p for p in papers})
    ranking = rank_batch(vectors, papers, model.embed(papers), seeds=seeds_)
    for row in range(len(profiles)):
        cols = ranking.cols[row].tolist()
        kept = [c for c in cols if c >= 0]
        assert cols[: len(kept)] == kept, f"profile {row}: a gap before a kept pick"
        assert len(ranking.picks(row)) == len(kept)


def _pointing(similarity: float, dims: int = 8) -> np.ndarray:
    """A unit vector with this cosine to the first axis."""
    v = np.zeros(dims, dtype=np.float32)
    v[0], v[1] = similarity, np.sqrt(1 - similarity**2)
    return v


def test_papers_below_the_learned_floor_never_take_a_named_matchs_place() -> None:
    """198 papers only resemble the profile (0 to 0.5); two say its keyword but
    resemble it little (0.05 + 0.35). The cut-off is applied before the top k is
    taken, so the two are picked whatever max_papers is."""
    sims = [*np.linspace(0, 0.5, 198), 0.05, 0.05]
    papers = [
        Paper(id=f"p{i:03d}", title="zebra crossings" if i >= 198 else f"paper {i}")
        for i in range(200)
    ]
    vectors = np.vstack([_pointing(s) for s in sims])
    for limit in (5, 20, 60):
        profile = ProfileVector(
            name="z", text=_pointing(1.0), keywords={"zebra": 1.0}, max_papers=limit
        )
        (picks,) = score_batch([profile], papers, vectors)
        assert {"p198", "p199"} <= {sp.paper.id for sp in picks}, limit


def test_a_small_batch_keeps_its_best_papers_without_a_learned_floor() -> None:
    """Eight papers are too few to learn a usual score from (one paper can stand at
    most sqrt(7) deviations above the mean): a paper just like the seeds is kept."""
    papers = [Paper(id=f"p{i}", title=f"paper {i}") for i in range(8)]
    vectors = np.vstack([_pointing(s) for s in (1.0, *[0.05] * 7)])
    for cutoff in ("good", "strong"):
        profile = ProfileVector(name="s", text=_pointing(1.0), cutoff=cutoff)
        (picks,) = score_batch([profile], papers, vectors)
        assert [sp.paper.id for sp in picks] == ["p0"], cutoff


def test_why_names_keywords_as_the_reader_wrote_them(papers: list[Paper], model: TextModel) -> None:
    profile = Profile(
        name="p", keywords=[Keyword(phrase="Heterogeneous"), Keyword(phrase="Language  Models")]
    )
    whys = [sp.why for sp in rank_papers(papers, profile, model=model)]
    named = [w for w in whys if w.startswith("keywords: ")]
    assert named and not any(re.search(r"\bheterogeneou\b", w) for w in named)
    assert any("Heterogeneous" in w for w in named)
    assert any("Language Models" in w for w in named)
    # matched as folded: a singular "language model" in a paper is a match
    assert any(
        "language model" in f"{sp.paper.title} {sp.paper.abstract}".lower()
        and "language models" not in f"{sp.paper.title} {sp.paper.abstract}".lower()
        and "Language Models" in sp.why
        for sp in rank_papers(papers, profile, model=model)
    )
