"""Every profile against a batch in one vectorised pass:

score = W.text · (text · paper) + W.keyword · matched keyword weight
      + W.author · matched authors + W.category · category affinity

A paper *matched* a profile when one of its keywords, authors or categories did, or
when the text part of its score shows as more than 0 (at least ``MIN_TEXT`` once
rounded to four places); one that matched nothing says so in its ``why``.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from digest.models import Paper, ScoredPaper
from digest.score.profile import DEFAULT_WEIGHTS, ProfileVector, Seeds, Weights
from digest.score.profileset import ProfileSet, sparse_matrix
from digest.score.text import fold, phrase_matrix
from digest.score.why import Ranking

MIN_TEXT = 5e-5
"""A text similarity below this rounds to a score of 0.0: no match."""

MIN_SPREAD_PAPERS = 50
"""A batch smaller than this is too small to learn a profile's usual score from (one
paper of n can stand at most sqrt(n - 1) deviations above the mean): only the share of
the day's best applies."""


@dataclass(slots=True)
class _Batch:
    """The batch-side matrices, built once per day against a profile set's vocabulary."""

    vectors: np.ndarray
    phrase_hits: sparse.csr_matrix
    author_hits: sparse.csr_matrix
    features: sparse.csr_matrix
    id_rank: np.ndarray


def _batch(papers: Sequence[Paper], vectors: np.ndarray, pset: ProfileSet) -> _Batch:
    texts = [f"{p.title} {p.abstract}" for p in papers]
    phrase_hits = phrase_matrix(texts, list(pset.phrases))
    rows: list[int] = []
    cols: list[int] = []
    cat_rows: list[int] = []
    cat_cols: list[int] = []
    for i, paper in enumerate(papers):
        for name in dict.fromkeys(fold(a) for a in paper.authors):
            col = pset.authors.get(name)
            if col is not None:
                rows.append(i)
                cols.append(col)
        keys: set[str] = set()
        for cat in paper.categories:
            keys.add(f"={cat}")
            parts = cat.split(".")
            keys.update(f"^{'.'.join(parts[:j])}" for j in range(1, len(parts) + 1))
        for key in keys:
            col = pset.categories.get(key)
            if col is not None:
                cat_rows.append(i)
                cat_cols.append(col)
    n = len(papers)
    author_hits = sparse_matrix(rows, cols, None, (n, len(pset.authors)))
    features = sparse.hstack(
        [
            phrase_hits,
            author_hits,
            sparse_matrix(cat_rows, cat_cols, None, (n, len(pset.categories))),
        ],
        format="csr",
    )
    order = sorted(range(n), key=lambda i: papers[i].id)
    id_rank = np.empty(n, dtype=np.int64)
    id_rank[order] = np.arange(n)
    return _Batch(vectors, phrase_hits, author_hits, features, id_rank)


def score_batch(
    profiles: ProfileSet | Sequence[ProfileVector],
    papers: Sequence[Paper],
    vectors: np.ndarray,
    *,
    seeds: Seeds | None = None,
    weights: Weights = DEFAULT_WEIGHTS,
    chunk: int = 4096,
) -> list[list[ScoredPaper]]:
    """Each profile's best papers of the batch, best first, each with its ``why``."""
    return list(rank_batch(profiles, papers, vectors, seeds=seeds, weights=weights, chunk=chunk))


def rank_batch(
    profiles: ProfileSet | Sequence[ProfileVector],
    papers: Sequence[Paper],
    vectors: np.ndarray,
    *,
    seeds: Seeds | None = None,
    weights: Weights = DEFAULT_WEIGHTS,
    chunk: int = 4096,
    workers: int = 2,
) -> Ranking:
    """Score every profile against the batch in one vectorised pass.

    ``vectors`` are the papers' embeddings (``TextModel.embed``). Excluded phrases
    remove a paper; ties are broken by paper id. What each pick matched (keywords,
    authors, the closest seed paper) is found with array operations too, so the
    pass never loops over profiles or (profile, paper) pairs in Python.
    """
    pset = profiles if isinstance(profiles, ProfileSet) else ProfileSet.build(profiles, weights)
    n = len(pset)
    k = min(int(pset.limits.max()) if n else 0, len(papers))
    ranking = Ranking(
        pset.profiles,
        papers,
        seeds,
        np.full((n, k), -1, dtype=np.int32),
        np.zeros((n, k), dtype=np.float32),
        np.full((n, k), -1, dtype=np.int32),
        np.zeros((n, k), dtype=np.int64),
        np.zeros((n, k), dtype=np.int64),
        np.zeros((n, k), dtype=bool),
    )
    if n == 0 or k == 0:
        return ranking
    batch = _batch(papers, vectors, pset)
    phrase_dense = batch.phrase_hits.toarray().astype(bool)
    author_dense = batch.author_hits.toarray().astype(bool)
    # only vocabulary the batch actually contains can add to a score; what a profile
    # names (keywords, authors, asked-for categories) apart from what its seed
    # papers' categories lean to, which only the cut-off tells apart
    active = np.unique(batch.features.indices)
    named = _named_columns(pset)[active]
    features = pset.features[:, active[named]]
    batch_features = batch.features[:, active[named]].T.toarray()
    leaning = pset.features[:, active[~named]]
    batch_leaning = batch.features[:, active[~named]].T.toarray()
    excluded_t = batch.phrase_hits.T.tocsc()
    seed_rows = pset.seed_rows
    seed_sims = remap = None
    if seeds is not None and len(seeds.vectors) and (seed_rows >= 0).any():
        used = np.unique(seed_rows[seed_rows >= 0])
        remap = np.full(len(seeds.vectors), -1, dtype=np.int64)
        remap[used] = np.arange(len(used))
        seed_sims = seeds.vectors[used] @ batch.vectors.T
    position = np.arange(k)[None, :]

    def run(start: int) -> None:
        stop = min(start + chunk, n)
        scores = pset.text[start:stop] @ batch.vectors.T
        if weights.text != 1.0:
            scores *= weights.text
        # the cut-off learned from the day: a paper that matched nothing by name must
        # stand out by its text from this profile's usual text score for the batch's
        # papers (on a batch too small to tell, only the share of the day's best
        # applies). Text alone: the seeds' categories lift a quarter of a day's papers
        # at once, which would raise the bar above nearly all of them
        spread = pset.spread[start:stop]
        learned = np.isfinite(spread) & (len(papers) >= MIN_SPREAD_PAPERS)
        below = None
        if learned.any():
            above = scores.mean(axis=1) + np.where(learned, spread, 0) * scores.std(axis=1)
            floors = np.where(learned, above, -np.inf).astype(np.float32)
            below = scores < floors[:, None]
        leaned = _add(scores, leaning[start:stop], batch_leaning)
        named_hits = _add(scores, features[start:stop], batch_features)
        if below is not None:
            # before the top k: a paper below the floor never takes a named match's place
            if named_hits is not None:
                below &= ~named_hits
            scores[below] = -np.inf
            del below
        banned = (pset.exclude[start:stop] @ excluded_t).tocoo()
        scores[banned.row, banned.col] = -np.inf
        cols, values = _top(scores, k, batch.id_rank)
        relative = pset.relative[start:stop]
        # a share of the day's best that is left: only when that best is a match at all
        least = np.where(relative > 0, np.maximum(values[:, 0], 0) * relative, -np.inf)
        keep = (
            (position < pset.limits[start:stop, None])
            & np.isfinite(values)
            & (values > pset.floors[start:stop, None])
            & (values >= least[:, None])
        )
        cols = np.where(keep, cols, -1)
        ranking.cols[start:stop] = cols
        ranking.scores[start:stop] = np.where(keep, values, 0)
        safe = np.maximum(cols, 0)
        # a pick matched if something named did, or its seeds' categories, or its text
        # part shows
        matched = values >= MIN_TEXT * weights.text
        for hits in (named_hits, leaned):
            if hits is not None:
                matched |= np.take_along_axis(hits, safe, axis=1)
        ranking.matched[start:stop] = matched & keep
        ranking.keyword_bits[start:stop] = _bits(phrase_dense, safe, pset.keyword_cols[start:stop])
        ranking.author_bits[start:stop] = _bits(author_dense, safe, pset.author_cols[start:stop])
        if seed_sims is not None and remap is not None:
            rows = seed_rows[start:stop]
            local = np.where(rows >= 0, remap[np.maximum(rows, 0)], 0)
            # a flat take: twice as fast as the same gather by two index arrays
            sims = seed_sims.ravel().take(local[:, :, None] * seed_sims.shape[1] + safe[:, None, :])
            sims[np.broadcast_to((rows < 0)[:, :, None], sims.shape)] = -np.inf
            closest = sims.argmax(axis=1)
            best = np.take_along_axis(rows, closest, axis=1)
            # a seed is named only when the pick is like it at all
            alike = np.take_along_axis(sims, closest[:, None, :], axis=1)[:, 0, :] >= MIN_TEXT
            ranking.best_seed[start:stop] = np.where(alike & (cols >= 0), best, -1)

    # chunks write disjoint rows; numpy and scipy release the GIL in the heavy parts
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(run, range(0, n, chunk)))
    return ranking


def _add(scores: np.ndarray, part: sparse.csr_matrix, batch_part: np.ndarray) -> np.ndarray | None:
    """Add a feature part of the score; returns where it matched (every feature weight
    is positive, so any part above 0 is a match), or None if the part is empty."""
    if not part.nnz:
        return None
    extra = part @ batch_part
    scores += extra
    hits: np.ndarray = extra > 0
    return hits


def _named_columns(pset: ProfileSet) -> np.ndarray:
    """Which columns of ``pset.features`` a profile names (not a seed category's lean)."""
    named = np.ones(pset.features.shape[1], dtype=bool)
    offset = len(pset.phrases) + len(pset.authors)
    for key, col in pset.categories.items():
        if key.startswith("="):
            named[offset + col] = False
    return named


def _bits(hits: np.ndarray, cols: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """For each (profile, pick): a bit mask of which of the profile's ``wanted`` columns
    the picked paper has (``hits`` is papers x columns, ``-1`` in ``wanted`` is padding)."""
    if hits.shape[1] == 0 or (wanted < 0).all():
        return np.zeros(cols.shape, dtype=np.int64)
    found = hits[cols[:, :, None], np.maximum(wanted, 0)[:, None, :]]
    found &= (wanted >= 0)[:, None, :]
    powers = np.left_shift(np.int64(1), np.arange(wanted.shape[1], dtype=np.int64))
    return np.asarray((found * powers).sum(axis=2), dtype=np.int64)


def _top(scores: np.ndarray, k: int, id_rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best columns of each row, best first, ties by paper id."""
    if k < scores.shape[1]:
        candidates = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        candidates = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
    picked = np.take_along_axis(scores, candidates, axis=1)
    order = np.lexsort((id_rank[candidates], -picked), axis=1)
    ranked = np.take_along_axis(candidates, order, axis=1)
    return ranked, np.take_along_axis(scores, ranked, axis=1)
