"""Why lines vary by what matched each paper, instead of repeating one reason."""

from __future__ import annotations

from digest.models import Paper, ScoredPaper
from digest.score.vary import profile_words, vary


def pick(title: str, why: str) -> ScoredPaper:
    return ScoredPaper(Paper(id=title, title=title), 1.0, why, "p")


def test_a_reason_every_pick_shares_is_said_once_and_each_pick_leads_with_its_own() -> None:
    picks = [
        pick("Diffusion for proteins", "keywords: diffusion · in cs.LG · like “Seed A”"),
        pick("Sampling fast", "keywords: diffusion · in cs.LG · like “Seed B”"),
        pick("A theory of everything", "in cs.LG · like “Seed A”"),
    ]
    whys = [sp.why for sp in vary(picks)]
    assert whys[0] == picks[0].why
    assert whys[1] == "keywords: diffusion · like “Seed B”"
    assert whys[2] == "like “Seed A”"
    assert all("in cs.LG" not in w for w in whys[1:])
    assert len(set(whys)) == 3


def test_a_keyword_in_the_title_leads() -> None:
    picks = [
        pick("Score matching", "keywords: diffusion, score matching · in cs.LG"),
        pick("Diffusion Models Beat GANs", "keywords: diffusion · in cs.LG"),
    ]
    assert vary(picks)[1].why == "“diffusion” in the title"
    picks[1] = pick("Diffusion Models Beat GANs", "keywords: diffusion, GAN · in cs.LG")
    assert vary(picks)[1].why == "“diffusion” in the title · keywords: diffusion, GAN"


def test_identical_reasons_are_kept_rather_than_left_empty() -> None:
    picks = [pick("A", "in cs.CV"), pick("B", "in cs.CV")]
    assert [sp.why for sp in vary(picks)] == ["in cs.CV", "in cs.CV"]


def test_a_single_pick_and_scores_are_untouched() -> None:
    one = [pick("A", "keywords: a · in cs.CV")]
    assert vary(one) == one
    picks = [pick("A", "x · y"), pick("B", "x · z")]
    assert [sp.score for sp in vary(picks)] == [1.0, 1.0]
    assert [sp.paper for sp in vary(picks)] == [sp.paper for sp in picks]


def test_picks_brought_in_by_wording_alone_name_the_words_or_their_field() -> None:
    def generic(title: str, abstract: str, cats: tuple[str, ...]) -> ScoredPaper:
        paper = Paper(id=title, title=title, abstract=abstract, categories=cats)
        return ScoredPaper(paper, 0.5, "similar to your interests", "p")

    picks = [
        generic("Reservoir Simulations at Scale", "", ("cs.CE",)),
        generic("A solver", "Runs on parallel computers.", ("cs.DC",)),
        generic("Unrelated words", "Nothing here.", ("math.NA",)),
        generic("No field", "Nothing here.", ()),
    ]
    words = ("reservoir", "simulation", "parallel", "computer")
    assert [sp.why for sp in vary(picks, words)] == [
        "mentions “reservoir”, “simulation” (title)",
        "mentions “parallel”, “computer” (abstract)",
        "similar to your interests, from math.NA",
        "similar to your interests",
    ]


def test_a_plural_keyword_is_found_in_a_singular_title_and_named_as_written() -> None:
    picks = [
        pick("Scaling laws", "keywords: Language Models · in cs.CL"),
        pick("A Language Model for Proofs", "keywords: Language Models · in cs.CL"),
    ]
    assert vary(picks)[1].why == "“Language Models” in the title"


def test_the_words_a_pick_shares_are_the_readers_own() -> None:
    words = profile_words(["Heterogeneous graphs", "graph"])
    assert words == ("heterogeneous", "graphs")
    papers = [
        Paper(id="x", title="Graph learning", categories=("cs.LG",)),
        Paper(id="y", title="Message passing", abstract="On heterogeneous data.", categories=()),
    ]
    picks = [ScoredPaper(p, 0.5, "similar to your interests", "p") for p in papers]
    whys = [sp.why for sp in vary(picks, words)]
    assert whys == ["mentions “graphs” (title)", "mentions “heterogeneous” (abstract)"]
