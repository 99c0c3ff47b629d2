"""Rank papers for profiles: the shared step behind ``digest rank`` and the daily run.

``digest rank --papers PAPERS.jsonl --profile PROFILE.toml [--top N] [--json]`` ranks the
papers of a JSON Lines file (``id, title, abstract``, optional ``authors, categories``)
for one profile file, touching no database; ``--json`` prints one line per paper, best
first: ``{"id": …, "score": …, "why": …}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from digest.models import Paper, Profile, ScoredPaper
from digest.profiles import load_profile_file
from digest.score import ProfileVector, Seeds, build_profile, score_batch
from digest.sources.formats import parse
from digest.textmodel import TextModel, paper_text


class RankInputError(ValueError):
    pass


def profile_vectors(
    profiles: Sequence[Profile], model: TextModel, known: Mapping[str, Paper]
) -> tuple[list[ProfileVector], Seeds]:
    """Build every profile's vector; seed, liked and disliked ids are looked up in
    ``known`` (ids not found are skipped), inline seeds are embedded as given."""
    seed_texts: list[str] = []
    seed_titles: list[str] = []
    seed_index: dict[str, int] = {}

    def row(key: str, title: str, text: str) -> int:
        if key not in seed_index:
            seed_index[key] = len(seed_texts)
            seed_texts.append(text)
            seed_titles.append(title)
        return seed_index[key]

    plans = []
    for profile in profiles:
        rows, cats, liked, disliked = [], [], [], []
        for seed in profile.seed_papers:
            paper = known.get(seed.id) if seed.id else None
            if paper is not None:
                rows.append(
                    row(
                        paper.id,
                        paper.title,
                        paper_text(paper.title, paper.abstract, paper.authors),
                    )
                )
                cats.append(paper.categories)
            elif seed.title or seed.abstract:
                title = seed.title or (seed.abstract or "")[:80]
                rows.append(
                    row(
                        f"inline:{title}:{seed.abstract}",
                        title,
                        paper_text(title, seed.abstract or ""),
                    )
                )
        for pid in profile.liked:
            if pid in known:
                p = known[pid]
                liked.append(row(p.id, p.title, paper_text(p.title, p.abstract, p.authors)))
        for pid in profile.disliked:
            if pid in known:
                p = known[pid]
                disliked.append(row(p.id, p.title, paper_text(p.title, p.abstract, p.authors)))
        plans.append((profile, rows, cats, liked, disliked))
    vectors = model.embed_texts(seed_texts)
    background = _background(vectors)
    keyword_texts = [" ".join(k.phrase for k in p.keywords) for p, *_ in plans]
    with_keywords = [i for i, t in enumerate(keyword_texts) if t]
    embedded = model.embed_texts([keyword_texts[i] for i in with_keywords])
    keyword_vectors: dict[int, np.ndarray] = dict(zip(with_keywords, embedded, strict=True))
    built = [
        build_profile(
            profile,
            model,
            seed_vectors=vectors,
            seed_rows=rows,
            seed_categories=cats,
            liked=vectors[liked] if liked else None,
            disliked=vectors[disliked] if disliked else None,
            background=background,
            keyword_vector=keyword_vectors.get(i),
        )
        for i, (profile, rows, cats, liked, disliked) in enumerate(plans)
    ]
    return built, Seeds(vectors, seed_titles)


def _background(vectors: np.ndarray, n: int = 200) -> np.ndarray:
    rng = np.random.default_rng(0)
    if len(vectors) == 0:
        return vectors
    return vectors[rng.choice(len(vectors), size=min(n, len(vectors)), replace=False)]


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
    result = parse(data, source=papers_path.name, format="jsonl")
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
