"""``digest rank`` as other tools call it: papers in, the same ids out, each ranked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from digest.cli import main
from digest.identity import title_fingerprint
from digest.sources.jsonl import parse_jsonl

PAPERS: list[dict[str, Any]] = [
    {
        "id": "10.1000/XYZ-123",
        "title": "Polar codes for channel capacity",
        "abstract": "We construct polar codes that achieve channel capacity with low complexity.",
        "categories": ["cs.IT"],
    },
    {
        "id": "c0",
        "title": "Diffusion models for image synthesis",
        "abstract": "Denoising diffusion models trained with score matching synthesise images.",
        "categories": ["cs.LG"],
    },
    {
        "id": "2401.01234v2",
        "title": "Score matching at scale",
        "abstract": "Score matching trains diffusion models on large image collections.",
        "categories": ["cs.LG", "stat.ML"],
    },
    {
        "id": 7,
        "title": "Protein folding with language models",
        "abstract": "Language models of amino acid sequences predict folded protein structure.",
        "categories": ["q-bio.BM"],
    },
    {
        "id": "arXiv:2402.00002",
        "title": "Byzantine agreement in partial synchrony",
        "abstract": "Consensus protocols tolerate faulty replicas when messages are delayed.",
        "categories": ["cs.DC"],
    },
]

PROFILE = """\
name = "generative"
keywords = ["diffusion model", "score matching"]
categories = ["cs.LG"]
"""


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def rank(tmp_path: Path):  # type: ignore[no-untyped-def]
    def invoke(
        rows: list[dict[str, Any]], profile: str = PROFILE, *args: str
    ) -> tuple[Result, list[dict[str, Any]]]:
        papers = write_jsonl(tmp_path / "papers.jsonl", rows)
        profile_path = tmp_path / "profile.toml"
        profile_path.write_text(profile)
        result = CliRunner().invoke(
            main, ["rank", "--papers", str(papers), "--profile", str(profile_path), "--json", *args]
        )
        assert result.exit_code == 0, result.output
        return result, [json.loads(line) for line in result.stdout.splitlines()]

    return invoke


def test_ids_come_back_exactly_as_given(rank) -> None:
    _, rows = rank(PAPERS)
    assert sorted(map(str, (r["id"] for r in rows))) == sorted(str(p["id"]) for p in PAPERS)
    given = {json.dumps(p["id"]) for p in PAPERS}
    assert {json.dumps(r["id"]) for r in rows} == given
    assert rows[0]["id"] in ("c0", "2401.01234v2")


def test_a_line_without_an_id_gets_the_papers_canonical_id(rank) -> None:
    without = [{k: v for k, v in p.items() if k != "id"} for p in PAPERS[2:3]]
    _, rows = rank([*PAPERS[:2], {**without[0], "abs": "https://arxiv.org/abs/2401.01234v2"}])
    assert {r["id"] for r in rows} == {"10.1000/XYZ-123", "c0", "2401.01234"}


def test_papers_with_the_same_title_or_id_are_each_ranked(rank) -> None:
    twin = {**PAPERS[1], "id": "c1"}
    untitled_id = {k: v for k, v in PAPERS[3].items() if k != "id"}
    _, rows = rank([*PAPERS, twin, untitled_id, untitled_id, PAPERS[0]])
    ids = [r["id"] for r in rows]
    assert len(ids) == len(PAPERS) + 4
    assert ids.count("c0") == 1 and ids.count("c1") == 1
    assert ids.count("10.1000/XYZ-123") == 2
    # the same text scores the same
    scores = {r["id"]: r["score"] for r in rows}
    assert scores["c0"] == scores["c1"]


def test_the_collected_ids_stay_canonical() -> None:
    """Collecting the same lines keys each paper as the store dedupes it."""
    data = "".join(json.dumps(p) + "\n" for p in PAPERS).encode()
    papers = parse_jsonl(data, source="s").papers
    fingerprint = [f"title:{title_fingerprint(str(p['title']))}" for p in PAPERS]
    assert [p.id for p in papers] == [
        fingerprint[0],
        fingerprint[1],
        "2401.01234",
        fingerprint[3],
        "2402.00002",
    ]
    assert papers[2].version == 2


def test_unreadable_lines_are_skipped_with_a_warning_on_stderr(rank, tmp_path: Path) -> None:
    papers = write_jsonl(tmp_path / "papers.jsonl", PAPERS[:2])
    with papers.open("a") as out:
        out.write("{not json\n")
        out.write(json.dumps({"id": "x9"}) + "\n")
    profile = tmp_path / "profile.toml"
    profile.write_text(PROFILE)
    result = CliRunner().invoke(
        main, ["rank", "--papers", str(papers), "--profile", str(profile), "--json"]
    )
    assert result.exit_code == 0
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == [
        "c0",
        "10.1000/XYZ-123",
    ]
    assert "line 3: not JSON" in result.stderr
    assert "line 4: no title; skipped" in result.stderr


EXAMPLE = Path(__file__).parent.parent / "config" / "profiles" / "example.toml"


def rank_with(tmp_path: Path, profile: Path, *args: str) -> Result:
    papers = write_jsonl(tmp_path / "papers.jsonl", PAPERS)
    return CliRunner().invoke(
        main, ["rank", "--papers", str(papers), "--profile", str(profile), "--json", *args]
    )


def ids(result: Result) -> list[Any]:
    return [json.loads(line)["id"] for line in result.stdout.splitlines()]


def test_a_subscriber_file_ranks_for_its_first_profile(tmp_path: Path) -> None:
    result = rank_with(tmp_path, EXAMPLE)
    assert result.exit_code == 0, result.output
    assert len(ids(result)) == len(PAPERS)
    assert set(ids(result)[:2]) == {"c0", "2401.01234v2"}


def test_name_picks_a_profile_of_a_subscriber_file(tmp_path: Path) -> None:
    result = rank_with(tmp_path, EXAMPLE, "--name", "information theory")
    assert result.exit_code == 0, result.output
    assert ids(result)[0] == "10.1000/XYZ-123"
    missing = rank_with(tmp_path, EXAMPLE, "--name", "robots")
    assert missing.exit_code == 1
    assert f"{EXAMPLE}: no profile named 'robots'" in missing.output
    assert "'diffusion models', 'information theory'" in missing.output


def test_a_one_profile_file_still_works_and_name_must_match(tmp_path: Path) -> None:
    profile = tmp_path / "me.toml"
    profile.write_text('name = "codes"\nkeywords = ["polar code"]\n')
    assert ids(rank_with(tmp_path, profile))[0] == "10.1000/XYZ-123"
    assert ids(rank_with(tmp_path, profile, "--name", "codes"))[0] == "10.1000/XYZ-123"
    assert rank_with(tmp_path, profile, "--name", "other").exit_code == 1


def test_an_overlong_seed_abstract_is_cut_with_a_warning(tmp_path: Path) -> None:
    junk = "Denoising diffusion models and score matching. " + "x" * 24_953
    assert len(junk) == 25_000
    profile = tmp_path / "me.toml"
    profile.write_text(
        f'name = "seeded"\n[[seed_papers]]\ntitle = "Diffusion"\nabstract = "{junk}"\n'
    )
    result = rank_with(tmp_path, profile)
    assert result.exit_code == 0, result.output
    assert len(ids(result)) == len(PAPERS)
    assert result.stderr == (
        f"warning: {profile}: seed_papers[0].abstract: cut from 25,000 to 20,000 characters\n"
    )
    assert "characters" not in result.stdout


def test_an_overlong_seed_in_a_subscriber_file_is_cut_too(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace(
        'title = "Denoising Diffusion Probabilistic Models"', f'title = "{"t" * 1500}"'
    )
    profile = tmp_path / "ada.toml"
    profile.write_text(text)
    result = rank_with(tmp_path, profile)
    assert result.exit_code == 0, result.output
    assert "profiles[0].seed_papers[1].title: cut from 1,500 to 1,000 characters" in result.stderr


def test_other_fields_beyond_the_limits_are_still_refused(tmp_path: Path) -> None:
    profile = tmp_path / "me.toml"
    profile.write_text(f'name = "x"\nkeywords = ["{"k" * 300}"]\n')
    result = rank_with(tmp_path, profile)
    assert result.exit_code == 1
    assert "keywords[0].phrase: String should have at most 200 characters" in result.output


def test_a_paper_that_matched_nothing_says_so(rank) -> None:
    _, rows = rank(PAPERS)
    why = {r["id"]: r["why"] for r in rows}
    score = {r["id"]: r["score"] for r in rows}
    for unrelated in ("10.1000/XYZ-123", 7, "arXiv:2402.00002"):
        assert why[unrelated] == "matched nothing in your profile"
        assert score[unrelated] == 0.0
    assert why["c0"] == "keywords: diffusion model, score matching · in cs.LG"
    assert score["c0"] > 0


def test_a_seed_is_named_only_for_papers_like_it(rank) -> None:
    seeded = (
        'name = "seeded"\n[[seed_papers]]\ntitle = "Denoising diffusion"\n'
        'abstract = "Diffusion synthesises images by score matching."\n'
    )
    _, rows = rank(PAPERS, seeded)
    why = {r["id"]: r["why"] for r in rows}
    assert why["c0"] == "like “Denoising diffusion”"
    assert why["2401.01234v2"] == "like “Denoising diffusion”"
    assert why[7] == "matched nothing in your profile"
    assert why["arXiv:2402.00002"] == "matched nothing in your profile"


def test_the_text_answer_says_matched_nothing_too(tmp_path: Path) -> None:
    profile = tmp_path / "me.toml"
    profile.write_text(PROFILE)
    papers = write_jsonl(tmp_path / "papers.jsonl", PAPERS[3:4])
    result = CliRunner().invoke(main, ["rank", "--papers", str(papers), "--profile", str(profile)])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "  1.  0.000  7  Protein folding with language models\n"
        "       matched nothing in your profile\n"
    )


def test_a_seed_id_finds_its_paper_whatever_form_the_line_gave(rank) -> None:
    seeded = 'name = "seeded"\n[[seed_papers]]\nid = "2401.01234"\n'
    _, rows = rank(PAPERS, seeded)
    assert rows[0] == {"id": "2401.01234v2", "score": rows[0]["score"], "why": rows[0]["why"]}
    assert rows[0]["why"] == "in cs.LG, stat.ML · like “Score matching at scale”"
    assert rows[0]["score"] > 0.99
