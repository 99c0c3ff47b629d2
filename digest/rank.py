"""Rank papers for profiles: the shared step behind ``digest rank`` and the daily run.

``digest rank --papers PAPERS.jsonl --profile PROFILE.toml [--name NAME] [--top N] [--json]``
ranks the papers of a JSON Lines file (``id, title, abstract``, optional ``authors,
categories``) for one profile (of a subscriber file, or a file of one profile),
touching no database; ``--json`` prints one line per paper, best first:
``{"id": …, "score": …, "why": …}``.

The answer is joined to its input by id, so each line's ``id`` comes back exactly as
given (``"10.1000/xyz"``, ``"c0"``, ``7``, ``"2401.01234v2"``), and every line is ranked,
even two with the same title or id. Only a line without an id gets the paper's
canonical id (:func:`digest.identity.paper_key`). Seed, liked and disliked ids in the
profile are matched against the papers' canonical ids, as in the daily run.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from digest.models import Paper, Profile, ScoredPaper
from digest.profiles import load_profile_file
from digest.score import TextModel, profile_vectors, score_batch
from digest.sources.jsonl import record_paper, records

log = logging.getLogger("digest.rank")


class RankInputError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Ranked:
    """One input line's place: its ``id`` as the caller gave it, its score and why."""

    id: Any
    score: float
    why: str
    paper: Paper


@dataclass(slots=True)
class Inputs:
    """The papers of a rank file in file order, the id each line gave (``None`` for
    none), the papers by canonical id (for the profile's seed and feedback ids), and
    why lines were skipped."""

    papers: list[Paper]
    given: list[Any]
    known: dict[str, Paper]
    warnings: list[str]


def read_inputs(data: bytes, *, source: str) -> Inputs:
    inputs = Inputs([], [], {}, [])
    for record, skipped in records(data):
        if record is None:
            inputs.warnings.append(str(skipped))
            continue
        paper = record_paper(record, source)
        canonical = paper.id
        given = record.get("id")
        if given is not None:
            text = given if isinstance(given, str) else json.dumps(given, ensure_ascii=False)
            paper = dataclasses.replace(paper, id=text)
        inputs.papers.append(paper)
        inputs.given.append(given)
        inputs.known.setdefault(canonical, paper)
    return inputs


def rank_papers(
    papers: Sequence[Paper],
    profile: Profile,
    *,
    model: TextModel | None = None,
    known: Mapping[str, Paper] | None = None,
) -> list[ScoredPaper]:
    """``papers`` best first for ``profile``; its seed and feedback ids are looked up
    in ``known`` (default: ``papers`` by id)."""
    inline = [
        Paper(id=f"seed:{i}", title=s.title or "", abstract=s.abstract or "")
        for i, s in enumerate(profile.seed_papers)
        if not s.id
    ]
    model = model or TextModel.fit([*papers, *inline])
    lookup = known if known is not None else {p.id: p for p in papers}
    vectors, seeds = profile_vectors([profile], model, lookup)
    (ranked,) = score_batch(vectors, papers, model.embed(papers), seeds=seeds)
    return ranked


def rank_file(
    papers_path: Path,
    profile_path: Path,
    top: int | None = None,
    *,
    name: str | None = None,
    warn: Callable[[str], None] = log.warning,
) -> list[Ranked]:
    """Every paper of the file, best first (or the best ``top``), for the profile file's
    profile (a subscriber file's profile ``name``, default its first). Lines that
    cannot be read are skipped, and seed text cut, each with a ``warn``."""
    profile = load_profile_file(profile_path, name, warn=warn)
    try:
        data = papers_path.read_bytes()
    except OSError as exc:
        raise RankInputError(f"{papers_path}: {exc.strerror or exc}") from exc
    inputs = read_inputs(data, source=papers_path.name)
    if not inputs.papers:
        reason = f" ({inputs.warnings[0]})" if inputs.warnings else ""
        raise RankInputError(f"{papers_path}: no paper could be read{reason}")
    for warning in inputs.warnings:
        warn(f"{papers_path}: {warning}")
    limit = top if top is not None else len(inputs.papers)
    # every paper of the file gets a rank, not just the matches of a digest
    everything = profile.model_copy(
        update={"max_papers": max(1, limit), "min_score": -np.inf, "cutoff": "any"}
    )
    ranked = rank_papers(inputs.papers, everything, known=inputs.known)
    # a paper object is made for one line, so it finds that line again
    line_of = {id(paper): line for line, paper in enumerate(inputs.papers)}
    out = []
    for sp in ranked:
        given = inputs.given[line_of[id(sp.paper)]]
        out.append(Ranked(sp.paper.id if given is None else given, sp.score, sp.why, sp.paper))
    return out


def json_lines(ranked: Sequence[Ranked]) -> list[str]:
    return [
        json.dumps({"id": r.id, "score": r.score, "why": r.why}, ensure_ascii=False) for r in ranked
    ]
