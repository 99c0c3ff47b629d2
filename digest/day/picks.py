"""Which papers each reader gets, and why: the day's scoring, from stored vectors.

Readers are grouped by the batch range their papers come from; each group is one
vectorised pass of their cached profile vectors over that range's stored embeddings.
A paper goes once to a reader (in the profile that scored it best), and never a paper
the reader named as a seed or gave feedback on. A new version of an older paper (arXiv's
``replace``) goes, by default, only to the readers who follow it (a seed or a like),
whatever it scores: to anyone else it is not news.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Literal, TypeVar

import numpy as np

from digest.day.vectors import (
    CachedProfile,
    Models,
    build_profiles,
    embed_papers,
    gather,
    paper_matrix,
)
from digest.models import DigestSection, Paper, ScoredPaper
from digest.score import ProfileSet, Seeds, assign_sections, rank_batch
from digest.score.vary import profile_words, vary
from digest.store import Store
from digest.store.papers import REPLACE

Replacements = Literal["followers", "all", "none"]

K = TypeVar("K", bound=Hashable)


class Picker:
    """Scores readers for one process; keeps each batch range's papers and
    embeddings, which every shard of a day shares."""

    def __init__(
        self, store: Store, models: Models | None = None, replacements: Replacements = "followers"
    ) -> None:
        self.store = store
        self.models = models or Models(store)
        self.replacements: Replacements = replacements
        self._ranges: dict[tuple[str, int | None, int], tuple[list[Paper], np.ndarray]] = {}
        self._seeds: dict[str, tuple[str, bytes]] = {}  # of the model ``_seeds_of``
        self._seeds_of: str | None = None

    def papers(self, version: str, after: int | None, upto: int) -> tuple[list[Paper], np.ndarray]:
        key = (version, after, upto)
        found = self._ranges.get(key)
        if found is None:
            papers = self.store.papers_since(after, upto)
            matrix = paper_matrix(self.store, version, papers)
            if matrix is None:
                current = self.models.current()
                if current is None or current[0] != version:
                    raise RuntimeError("the text model changed during the run")
                embed_papers(self.store, version, current[1], papers)
                matrix = paper_matrix(self.store, version, papers)
                assert matrix is not None
            if len(self._ranges) > 8:
                self._ranges.clear()
            found = self._ranges[key] = (papers, matrix)
        return found

    def collected(self, version: str | None, after: int | None, upto: int) -> int:
        """How many papers were first seen in batches ``(after, upto]``."""
        if after is not None and after >= upto:
            return 0
        if version is None:
            return len(self.store.papers_since(after, upto))
        return len(self.papers(version, after, upto)[0])

    def cached(self, version: str, subscriber_ids: Sequence[int]) -> dict[int, list[CachedProfile]]:
        """Each subscriber's cached profiles; any made with another model (or never)
        are built now."""
        rows = self.store.profile_rows(subscriber_ids)
        stale = [
            sid for sid, ps in rows.items() if any(r[3] != version or r[2] is None for r in ps)
        ]
        if stale:
            current = self.models.current()
            if current is None or current[0] != version:
                raise RuntimeError("the text model changed during the run")
            build_profiles(self.store, version, current[1], stale)
            rows.update(self.store.profile_rows(stale))
        found: dict[int, list[CachedProfile]] = {}
        for sid, ps in rows.items():
            mine = [CachedProfile.from_bytes(r[2]) for r in ps if r[2] is not None]
            found[sid] = [c for c in mine if c is not None]
        return found

    def for_readers(
        self, version: str, readers: Sequence[tuple[K, int, int | None, int]]
    ) -> dict[K, list[DigestSection]]:
        """Sections for each (key, subscriber id, after batch, up to batch)."""
        profiles = self.cached(version, [sid for _, sid, _, _ in readers])
        groups: dict[tuple[int | None, int], list[tuple[K, int]]] = {}
        for key, sid, after, upto in readers:
            groups.setdefault((after, upto), []).append((key, sid))
        out: dict[K, list[DigestSection]] = {}
        for (after, upto), members in groups.items():
            if after is not None and after >= upto:
                out.update((key, []) for key, _ in members)
                continue
            papers, matrix = self.papers(version, after, upto)
            owners = {key: profiles.get(sid, []) for key, sid in members}
            if self._seeds_of != version:  # embeddings of an older model are never read again
                self._seeds, self._seeds_of = {}, version
            mine = [c for cs in owners.values() for c in cs]
            vectors_seeds = gather(self.store, version, mine, self._seeds)
            out.update(rank(papers, matrix, owners, *vectors_seeds, self.replacements))
        return out


def rank(
    papers: Sequence[Paper],
    matrix: np.ndarray,
    owners: Mapping[K, Sequence[CachedProfile]],
    vectors: Sequence[object],
    seeds: Seeds,
    replacements: Replacements = "followers",
) -> dict[K, list[DigestSection]]:
    """``owners``' sections for ``papers``; ``vectors`` are the owners' profile vectors
    in order, as :func:`~digest.day.vectors.gather` returns them."""
    flat = [(key, c) for key, cs in owners.items() for c in cs]
    if not flat or not papers:
        return {key: [] for key in owners}
    replaced = {p.id: i for i, p in enumerate(papers) if p.announce == REPLACE}
    hidden = replaced if replacements != "all" else {}
    ranked, ranked_matrix = papers, matrix
    if hidden:
        # not ranked at all: a paper no one gets by its score must not set the day's
        # best that a profile's cut-off is measured against
        rows = [i for i, p in enumerate(papers) if p.id not in hidden]
        ranked, ranked_matrix = [papers[i] for i in rows], matrix[rows]
    ranking = rank_batch(ProfileSet.build(vectors), ranked, ranked_matrix, seeds=seeds)  # type: ignore[arg-type]
    by_owner: dict[K, list[tuple[str, list]]] = {key: [] for key in owners}  # type: ignore[type-arg]
    words: dict[tuple[K, str], tuple[str, ...]] = {}
    for row, (key, cached) in enumerate(flat):
        seen = cached.referenced
        picks = [
            sp for sp in ranking.picks(row) if sp.paper.id not in seen and sp.paper.id not in hidden
        ]
        if replaced and replacements != "none":
            picks[:0] = _new_versions(cached, papers, matrix, replaced)
        words[key, cached.vector.name] = profile_words(cached.vector.labels.values())
        by_owner[key].append((cached.vector.name, picks))
    return {
        key: [
            DigestSection(name, tuple(vary(picks, words.get((key, name), ()))))
            for name, picks in assign_sections(ranked)
        ]
        for key, ranked in by_owner.items()
    }


def _new_versions(
    cached: CachedProfile, papers: Sequence[Paper], matrix: np.ndarray, replaced: dict[str, int]
) -> list[ScoredPaper]:
    """The new versions of papers this profile follows, first in its section."""
    found = []
    for paper_id in sorted(cached.follows.intersection(replaced)):
        paper = papers[replaced[paper_id]]
        score = float(cached.vector.text @ matrix[replaced[paper_id]])
        version = f" (v{paper.version})" if paper.version else ""
        why = f"a new version{version} of a paper you liked or named as a seed"
        found.append(ScoredPaper(paper, round(score, 4), why, cached.vector.name))
    return found
