"""Rank papers for profiles: the shared step behind ``digest rank`` and the daily run.

``digest rank --papers PAPERS.jsonl --profile PROFILE.toml [--top N] [--json]`` ranks the
papers of a JSON Lines file (``id, title, abstract``, optional ``authors, categories``)
for one profile file, touching no database; ``--json`` prints one line per paper, best
first: ``{"id": …, "score": …, "why": …}``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from digest.models import Paper, Profile, ScoredPaper
from digest.profiles import load_profile_file
from digest.score import TextModel, profile_vectors, score_batch
from digest.sources.jsonl import parse_jsonl


class RankInputError(ValueError):
    pass


def rank_papers(
    papers: Sequence[Paper], profile: Profile, *, model: TextModel | None = None
) -> list[ScoredPaper]:
    inline = [
        Paper(id=f"seed:{i}", title=s.title or "", abstract=s.abstract or "")
        for i, s in enumerate(profile.seed_papers)
        if not s.id
    ]
    model = model or TextModel.fit([*papers, *inline])
    vectors, seeds = profile_vectors([profile], model, {p.id: p for p in papers})
    (ranked,) = score_batch(vectors, papers, model.embed(papers), seeds=seeds)
    return ranked


def rank_file(papers_path: Path, profile_path: Path, top: int | None = None) -> list[ScoredPaper]:
    profile = load_profile_file(profile_path)
    try:
        data = papers_path.read_bytes()
    except OSError as exc:
        raise RankInputError(f"{papers_path}: {exc.strerror or exc}") from exc
    result = parse_jsonl(data, source=papers_path.name)
    if result.error:
        raise RankInputError(f"{papers_path}: {result.error}")
    papers = list({p.id: p for p in result.papers}.values())
    limit = top if top is not None else len(papers)
    # every paper of the file gets a rank, not just the matches of a digest
    return rank_papers(
        papers, profile.model_copy(update={"max_papers": max(1, limit), "min_score": -np.inf})
    )


def json_lines(ranked: Sequence[ScoredPaper]) -> list[str]:
    return [
        json.dumps({"id": sp.paper.id, "score": sp.score, "why": sp.why}, ensure_ascii=False)
        for sp in ranked
    ]
