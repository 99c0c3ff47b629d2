"""Many profiles as matrices, so that the day scores them all in one pass."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from digest.score.profile import CUTOFFS, DEFAULT_WEIGHTS, ProfileVector, Weights


def sparse_matrix(
    rows: list[int], cols: list[int], vals: list[float] | None, shape: tuple[int, int]
) -> sparse.csr_matrix:
    data = np.ones(len(rows), dtype=np.float32) if vals is None else np.asarray(vals, np.float32)
    return sparse.csr_matrix((data, (rows, cols)), shape=shape)


def padded(lists: Sequence[Sequence[int]], limit: int = 63) -> np.ndarray:
    """Ragged lists of column numbers as one ``-1``-padded matrix, at most ``limit`` wide."""
    width = min(max((len(x) for x in lists), default=0), limit)
    out = np.full((len(lists), max(width, 1)), -1, dtype=np.int64)
    for i, values in enumerate(lists):
        if values:
            row = values[:width]
            out[i, : len(row)] = row
    return out


@dataclass(slots=True)
class ProfileSet:
    """Many profiles as matrices, built when profiles change and reused every day.

    Columns of ``features`` are a vocabulary of keyword phrases, author names and
    categories (``=cs.LG`` for a seed paper's category, matched exactly; ``^cs`` for an
    asked-for category, matched as a dot prefix), each weighted for its profile, so
    that the daily pass is ``text @ batch.T + features @ batch_features.T``.
    """

    profiles: Sequence[ProfileVector]
    text: np.ndarray
    phrases: dict[str, int]
    authors: dict[str, int]
    categories: dict[str, int]
    features: sparse.csr_matrix
    exclude: sparse.csr_matrix
    keyword_cols: np.ndarray
    author_cols: np.ndarray
    seed_rows: np.ndarray
    limits: np.ndarray
    floors: np.ndarray
    relative: np.ndarray
    spread: np.ndarray

    def __len__(self) -> int:
        return len(self.profiles)

    @classmethod
    def build(
        cls, profiles: Sequence[ProfileVector], weights: Weights = DEFAULT_WEIGHTS
    ) -> ProfileSet:
        phrases: dict[str, int] = {}
        authors: dict[str, int] = {}
        categories: dict[str, int] = {}
        kw_rows: list[int] = []
        kw_cols: list[int] = []
        kw_vals: list[float] = []
        ex_rows: list[int] = []
        ex_cols: list[int] = []
        au_rows: list[int] = []
        au_cols: list[int] = []
        ca_rows: list[int] = []
        ca_cols: list[int] = []
        ca_vals: list[float] = []
        keyword_cols: list[list[int]] = []
        author_cols: list[list[int]] = []
        for i, p in enumerate(profiles):
            mine = []
            for phrase, weight in p.keywords.items():
                col = phrases.setdefault(phrase, len(phrases))
                mine.append(col)
                kw_rows.append(i)
                kw_cols.append(col)
                kw_vals.append(weight * weights.keyword)
            keyword_cols.append(mine)
            for phrase in p.exclude:
                ex_rows.append(i)
                ex_cols.append(phrases.setdefault(phrase, len(phrases)))
            mine = []
            for name in p.authors:
                col = authors.setdefault(name, len(authors))
                mine.append(col)
                au_rows.append(i)
                au_cols.append(col)
            author_cols.append(mine)
            for cat, weight in p.categories.items():
                key = f"^{cat}" if weight < 0 else f"={cat}"
                ca_rows.append(i)
                ca_cols.append(categories.setdefault(key, len(categories)))
                ca_vals.append(weights.category if weight < 0 else weight * weights.seed_category)
        n = len(profiles)
        features = sparse.hstack(
            [
                sparse_matrix(kw_rows, kw_cols, kw_vals, (n, len(phrases))),
                sparse_matrix(au_rows, au_cols, [weights.author] * len(au_rows), (n, len(authors))),
                sparse_matrix(ca_rows, ca_cols, ca_vals, (n, len(categories))),
            ],
            format="csr",
        )
        features.sum_duplicates()
        exclude = sparse_matrix(ex_rows, ex_cols, None, (n, len(phrases)))
        exclude.sum_duplicates()
        dims = profiles[0].text.shape[0] if profiles else 0
        return cls(
            profiles=profiles,
            text=np.vstack([p.text for p in profiles]).astype(np.float32)
            if profiles
            else np.zeros((0, dims), np.float32),
            phrases=phrases,
            authors=authors,
            categories=categories,
            features=features,
            exclude=exclude,
            keyword_cols=padded(keyword_cols),
            author_cols=padded(author_cols),
            seed_rows=padded([p.seed_rows.tolist() for p in profiles], limit=1 << 30),
            limits=np.array([p.max_papers for p in profiles], dtype=np.int64),
            floors=np.array([p.min_score for p in profiles], dtype=np.float32),
            relative=np.array([CUTOFFS[p.cutoff].relative for p in profiles], np.float32),
            spread=np.array([CUTOFFS[p.cutoff].spread for p in profiles], np.float32),
        )
