"""Profiles and papers → ranked, explained ScoredPapers. Pure: no I/O, no rendering.

A profile becomes a :class:`ProfileVector` when it (or its feedback) changes: a unit
text vector (seed and liked papers' centroid, pushed away from disliked ones, blended
with a logistic-regression direction once there is enough feedback), its keyword,
author and category weights, and its seed papers for explanations. The daily pass
scores every profile against a batch at once with matrix products:

    score = W.text · (text · paper) + W.keyword · matched keyword weight
          + W.author · matched authors + W.category · category affinity
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression

from digest.models import Paper, Profile, ScoredPaper
from digest.textmodel import TextModel

MIN_FEEDBACK = 3


@dataclass(frozen=True, slots=True)
class Weights:
    text: float = 1.0
    keyword: float = 0.35
    author: float = 1.0
    category: float = 0.25
    seed_category: float = 0.3


@dataclass(slots=True)
class ProfileVector:
    """Everything the daily pass needs of one profile, precomputed."""

    name: str
    text: np.ndarray
    keywords: dict[str, float] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    categories: dict[str, float] = field(default_factory=dict)
    seed_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    max_papers: int = 20
    min_score: float = 0.0
    has_text: bool = True


@dataclass(slots=True)
class Seeds:
    """Embeddings and titles of every seed paper any profile points at."""

    vectors: np.ndarray
    titles: list[str]


def fold(text: str) -> str:
    """Lower-case, accent-free, single-spaced: how names and phrases are compared."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(text.lower().split())


_TOKEN = re.compile(r"[a-z0-9][a-z0-9\-]*")


def _tokens(text: str) -> list[str]:
    return [
        t[:-1] if len(t) > 3 and t.endswith("s") and not t.endswith("ss") else t
        for t in _TOKEN.findall(fold(text))
    ]


def _phrase(text: str) -> str:
    return " ".join(_tokens(text))


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm > 0 else vector.astype(np.float32)


def build_profile(
    profile: Profile,
    model: TextModel,
    *,
    seed_vectors: np.ndarray,
    seed_rows: Sequence[int],
    seed_categories: Sequence[Sequence[str]] = (),
    liked: np.ndarray | None = None,
    disliked: np.ndarray | None = None,
    background: np.ndarray | None = None,
) -> ProfileVector:
    """Turn a profile into its vector. ``seed_rows`` index ``seed_vectors`` (the seed
    and liked papers' embeddings); ``liked``/``disliked`` are embeddings of feedback."""
    rows = np.asarray(seed_rows, dtype=np.int64)
    positives = [seed_vectors[rows]] if len(rows) else []
    if liked is not None and len(liked):
        positives.append(liked)
    keyword_text = " ".join(k.phrase for k in profile.keywords)
    if keyword_text:
        positives.append(model.embed_texts([keyword_text]))
    text = np.zeros(model.dims, dtype=np.float32)
    if positives:
        text = _unit(np.vstack(positives).mean(axis=0))
    if disliked is not None and len(disliked):
        text = _unit(text - 0.5 * _unit(disliked.mean(axis=0)))
        if len(disliked) >= MIN_FEEDBACK and positives and background is not None:
            text = _unit(text + _learned(np.vstack(positives), disliked, background))
    affinity: dict[str, float] = {}
    for cats in seed_categories:
        for c in set(cats):
            affinity[c] = affinity.get(c, 0.0) + 1.0 / len(seed_categories)
    return ProfileVector(
        name=profile.name,
        text=text,
        keywords={_phrase(k.phrase): k.weight for k in profile.keywords if _phrase(k.phrase)},
        exclude=tuple(p for p in (_phrase(x) for x in profile.exclude) if p),
        authors=tuple(fold(a) for a in profile.authors),
        categories={**affinity, **{c: -1.0 for c in profile.categories}},
        seed_rows=rows,
        max_papers=profile.max_papers,
        min_score=profile.min_score,
        has_text=bool(positives),
    )


def _learned(positive: np.ndarray, negative: np.ndarray, background: np.ndarray) -> np.ndarray:
    """A per-profile logistic regression: liked vs disliked, the corpus as background."""
    x = np.vstack([positive, negative, background])
    y = np.r_[np.ones(len(positive)), np.zeros(len(negative) + len(background))]
    weights = np.r_[np.ones(len(positive)), np.full(len(negative), 3.0), np.ones(len(background))]
    clf = LogisticRegression(C=1.0, class_weight="balanced", max_iter=500)
    clf.fit(x, y, sample_weight=weights)
    return _unit(clf.coef_[0])


def _phrase_matrix(texts: Sequence[str], phrases: Sequence[str]) -> sparse.csr_matrix:
    if not phrases:
        return sparse.csr_matrix((len(texts), 0), dtype=np.float32)
    longest = max(len(p.split()) for p in phrases)
    vectorizer = CountVectorizer(
        vocabulary={p: i for i, p in enumerate(phrases)},
        analyzer="word",
        tokenizer=_tokens,
        token_pattern=None,
        lowercase=False,
        ngram_range=(1, longest),
        binary=True,
        dtype=np.float32,
    )
    return vectorizer.transform(texts).tocsr()


def _profile_matrix(
    profiles: Sequence[ProfileVector], columns: Mapping[str, int], attr: str
) -> sparse.csr_matrix:
    rows, cols, vals = [], [], []
    for i, p in enumerate(profiles):
        values = getattr(p, attr)
        items = values.items() if isinstance(values, dict) else ((v, 1.0) for v in values)
        for key, weight in items:
            j = columns.get(key)
            if j is not None:
                rows.append(i)
                cols.append(j)
                vals.append(weight)
    return sparse.csr_matrix(
        (np.asarray(vals, dtype=np.float32), (rows, cols)), shape=(len(profiles), len(columns))
    )


def _category_columns(papers: Sequence[Paper]) -> tuple[dict[str, int], sparse.csr_matrix]:
    columns: dict[str, int] = {}
    rows, cols = [], []
    for i, p in enumerate(papers):
        for c in dict.fromkeys(p.categories):
            rows.append(i)
            cols.append(columns.setdefault(c, len(columns)))
    matrix = sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(papers), len(columns))
    )
    return columns, matrix


def _category_affinity(
    profiles: Sequence[ProfileVector], columns: Mapping[str, int], weights: Weights
) -> sparse.csr_matrix:
    """Seed-derived affinities as given; explicit categories (stored as -1) match every
    batch category equal to them or below them on a dot boundary (``cs`` → ``cs.LG``)."""
    expanded: list[dict[str, float]] = []
    for p in profiles:
        found: dict[str, float] = {}
        for cat, w in p.categories.items():
            if w >= 0:
                found[cat] = found.get(cat, 0.0) + w * weights.seed_category
                continue
            for known in columns:
                if known == cat or known.startswith(cat + "."):
                    found[known] = found.get(known, 0.0) + weights.category
        expanded.append(found)
    rows, cols, vals = [], [], []
    for i, found in enumerate(expanded):
        for cat, w in found.items():
            if cat in columns:
                rows.append(i)
                cols.append(columns[cat])
                vals.append(w)
    return sparse.csr_matrix(
        (np.asarray(vals, dtype=np.float32), (rows, cols)), shape=(len(profiles), len(columns))
    )


@dataclass(slots=True)
class _Batch:
    """The batch-side matrices, built once per day and shared by every profile."""

    vectors: np.ndarray
    phrases: dict[str, int]
    phrase_hits: sparse.csr_matrix
    authors: dict[str, int]
    author_hits: sparse.csr_matrix
    categories: dict[str, int]
    category_hits: sparse.csr_matrix
    id_rank: np.ndarray


def _batch(
    papers: Sequence[Paper], vectors: np.ndarray, profiles: Sequence[ProfileVector]
) -> _Batch:
    phrases: dict[str, int] = {}
    for p in profiles:
        for phrase in (*p.keywords, *p.exclude):
            phrases.setdefault(phrase, len(phrases))
    texts = [f"{p.title} {p.abstract}" for p in papers]
    authors: dict[str, int] = {}
    rows, cols = [], []
    for i, paper in enumerate(papers):
        for name in dict.fromkeys(fold(a) for a in paper.authors):
            rows.append(i)
            cols.append(authors.setdefault(name, len(authors)))
    author_hits = sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(papers), len(authors))
    )
    categories, category_hits = _category_columns(papers)
    order = sorted(range(len(papers)), key=lambda i: papers[i].id)
    id_rank = np.empty(len(papers), dtype=np.int64)
    id_rank[order] = np.arange(len(papers))
    return _Batch(
        vectors,
        phrases,
        _phrase_matrix(texts, list(phrases)),
        authors,
        author_hits,
        categories,
        category_hits,
        id_rank,
    )


def _add_sparse(dense: np.ndarray, product: sparse.spmatrix, scale: float) -> None:
    coo = product.tocoo()
    if coo.nnz:
        np.add.at(dense, (coo.row, coo.col), scale * coo.data)


def score_batch(
    profiles: Sequence[ProfileVector],
    papers: Sequence[Paper],
    vectors: np.ndarray,
    *,
    seeds: Seeds | None = None,
    weights: Weights = Weights(),
    chunk: int = 4096,
) -> list[list[ScoredPaper]]:
    """Each profile's best papers of the batch, best first, each with its ``why``.

    ``vectors`` are the papers' embeddings (``TextModel.embed``). Excluded phrases
    remove a paper; ties are broken by paper id.
    """
    if not papers or not profiles:
        return [[] for _ in profiles]
    batch = _batch(papers, vectors, profiles)
    text = np.vstack([p.text for p in profiles]).astype(np.float32)
    keyword = _profile_matrix(profiles, batch.phrases, "keywords")
    exclude = _profile_matrix(profiles, batch.phrases, "exclude")
    author = _profile_matrix(profiles, batch.authors, "authors")
    category = _category_affinity(profiles, batch.categories, weights)
    results: list[list[ScoredPaper]] = []
    for start in range(0, len(profiles), chunk):
        stop = min(start + chunk, len(profiles))
        part = profiles[start:stop]
        scores = weights.text * (text[start:stop] @ batch.vectors.T)
        _add_sparse(scores, keyword[start:stop] @ batch.phrase_hits.T, weights.keyword)
        _add_sparse(scores, author[start:stop] @ batch.author_hits.T, weights.author)
        _add_sparse(scores, category[start:stop] @ batch.category_hits.T, 1.0)
        banned = (exclude[start:stop] @ batch.phrase_hits.T).tocoo()
        scores[banned.row, banned.col] = -np.inf
        top = _top(scores, part, batch.id_rank)
        results.extend(_explain(part, top, scores, papers, batch, seeds))
    return results


def _top(
    scores: np.ndarray, part: Sequence[ProfileVector], id_rank: np.ndarray
) -> list[np.ndarray]:
    k = min(max(p.max_papers for p in part), scores.shape[1])
    if k < scores.shape[1]:
        candidates = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        candidates = np.tile(np.arange(scores.shape[1]), (scores.shape[0], 1))
    picked = np.take_along_axis(scores, candidates, axis=1)
    order = np.lexsort((id_rank[candidates], -picked), axis=1)
    ranked = np.take_along_axis(candidates, order, axis=1)
    kept = []
    for row, profile in enumerate(part):
        cols = ranked[row, : profile.max_papers]
        values = scores[row, cols]
        kept.append(cols[np.isfinite(values) & (values > profile.min_score)])
    return kept


def _explain(
    part: Sequence[ProfileVector],
    top: Sequence[np.ndarray],
    scores: np.ndarray,
    papers: Sequence[Paper],
    batch: _Batch,
    seeds: Seeds | None,
) -> list[list[ScoredPaper]]:
    hits = batch.phrase_hits
    out: list[list[ScoredPaper]] = []
    for row, (profile, cols) in enumerate(zip(part, top, strict=True)):
        seed_sims = None
        if seeds is not None and len(profile.seed_rows) and len(cols):
            seed_sims = seeds.vectors[profile.seed_rows] @ batch.vectors[cols].T
        picked = []
        for n, col in enumerate(cols):
            paper = papers[col]
            reasons = []
            if profile.keywords:
                present = set(hits.indices[hits.indptr[col] : hits.indptr[col + 1]])
                matched = [k for k in profile.keywords if batch.phrases[k] in present]
                if matched:
                    reasons.append("keywords: " + ", ".join(matched[:3]))
            if profile.authors:
                names = {fold(a): a for a in paper.authors}
                matched = [names[a] for a in profile.authors if a in names]
                if matched:
                    reasons.append("author: " + ", ".join(matched[:2]))
            cats = [c for c in paper.categories if _wants(profile, c)]
            if cats:
                reasons.append("in " + ", ".join(cats[:2]))
            if seed_sims is not None and seeds is not None:
                best = int(profile.seed_rows[int(np.argmax(seed_sims[:, n]))])
                reasons.append(f"like \u201c{_short(seeds.titles[best])}\u201d")
            picked.append(
                ScoredPaper(paper, round(float(scores[row, col]), 4), _fit(reasons), profile.name)
            )
        out.append(picked)
    return out


def _wants(profile: ProfileVector, category: str) -> bool:
    for cat, weight in profile.categories.items():
        if weight < 0 and (category == cat or category.startswith(cat + ".")):
            return True
        if weight >= 0.5 and category == cat:
            return True
    return False


def _short(title: str, limit: int = 60) -> str:
    return title if len(title) <= limit else title[: limit - 1].rsplit(" ", 1)[0] + "\u2026"


def _fit(reasons: list[str], limit: int = 160) -> str:
    text = " · ".join(reasons) or "similar to your interests"
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def assign_sections(
    ranked: Sequence[tuple[str, Sequence[ScoredPaper]]],
) -> list[tuple[str, list[ScoredPaper]]]:
    """One section per profile; a paper picked by several appears once, in the profile
    that scored it highest (the earlier profile on a tie)."""
    best: dict[str, tuple[float, int]] = {}
    for position, (_, papers) in enumerate(ranked):
        for sp in papers:
            current = best.get(sp.paper.id)
            if current is None or sp.score > current[0]:
                best[sp.paper.id] = (sp.score, position)
    return [
        (name, [sp for sp in papers if best[sp.paper.id][1] == position])
        for position, (name, papers) in enumerate(ranked)
    ]
