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
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
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
    _short: list[str] | None = None

    def short_titles(self) -> list[str]:
        """``like “…”`` for every seed, written once."""
        if self._short is None:
            self._short = [f"like \u201c{_short(t)}\u201d" for t in self.titles]
        return self._short


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
    keyword_vector: np.ndarray | None = None,
) -> ProfileVector:
    """Turn a profile into its vector. ``seed_rows`` index ``seed_vectors`` (the seed
    and liked papers' embeddings); ``liked``/``disliked`` are embeddings of feedback;
    ``keyword_vector`` is the embedding of the keywords joined, when already computed."""
    rows = np.asarray(seed_rows, dtype=np.int64)
    positives = [seed_vectors[rows]] if len(rows) else []
    if liked is not None and len(liked):
        positives.append(liked)
    keyword_text = " ".join(k.phrase for k in profile.keywords)
    if keyword_text:
        if keyword_vector is None:
            keyword_vector = model.embed_texts([keyword_text])[0]
        positives.append(keyword_vector[None, :])
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
    """Which texts contain which phrases (whole tokens, in order), as a 0/1 matrix.

    Phrases are indexed by their first token and length, so each text is read once,
    with at most one look-up per token and phrase length, whatever the number of
    phrases (100,000 profiles' keywords share many first words)."""
    single: dict[str, int] = {}
    by_first: dict[str, dict[int, dict[tuple[str, ...], int]]] = {}
    for col, phrase in enumerate(phrases):
        words = tuple(phrase.split())
        if len(words) == 1:
            single[words[0]] = col
        else:
            by_first.setdefault(words[0], {}).setdefault(len(words), {})[words] = col
    rows: list[int] = []
    cols: list[int] = []
    for row, text in enumerate(texts):
        tokens = _tokens(text)
        found = {single[t] for t in tokens if t in single}
        for i, token in enumerate(tokens):
            lengths = by_first.get(token)
            if lengths is not None:
                for length, table in lengths.items():
                    hit = table.get(tuple(tokens[i : i + length]))
                    if hit is not None:
                        found.add(hit)
        rows.extend([row] * len(found))
        cols.extend(found)
    return sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(texts), len(phrases))
    )


def _sparse(
    rows: list[int], cols: list[int], vals: list[float] | None, shape: tuple[int, int]
) -> sparse.csr_matrix:
    data = np.ones(len(rows), dtype=np.float32) if vals is None else np.asarray(vals, np.float32)
    return sparse.csr_matrix((data, (rows, cols)), shape=shape)


def _padded(lists: Sequence[Sequence[int]], limit: int = 63) -> np.ndarray:
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

    def __len__(self) -> int:
        return len(self.profiles)

    @classmethod
    def build(cls, profiles: Sequence[ProfileVector], weights: Weights = Weights()) -> ProfileSet:
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
                _sparse(kw_rows, kw_cols, kw_vals, (n, len(phrases))),
                _sparse(au_rows, au_cols, [weights.author] * len(au_rows), (n, len(authors))),
                _sparse(ca_rows, ca_cols, ca_vals, (n, len(categories))),
            ],
            format="csr",
        )
        features.sum_duplicates()
        exclude = _sparse(ex_rows, ex_cols, None, (n, len(phrases)))
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
            keyword_cols=_padded(keyword_cols),
            author_cols=_padded(author_cols),
            seed_rows=_padded([p.seed_rows.tolist() for p in profiles], limit=1 << 30),
            limits=np.array([p.max_papers for p in profiles], dtype=np.int64),
            floors=np.array([p.min_score for p in profiles], dtype=np.float32),
        )


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
    phrase_hits = _phrase_matrix(texts, list(pset.phrases))
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
    author_hits = _sparse(rows, cols, None, (n, len(pset.authors)))
    features = sparse.hstack(
        [phrase_hits, author_hits, _sparse(cat_rows, cat_cols, None, (n, len(pset.categories)))],
        format="csr",
    )
    order = sorted(range(n), key=lambda i: papers[i].id)
    id_rank = np.empty(n, dtype=np.int64)
    id_rank[order] = np.arange(n)
    return _Batch(vectors, phrase_hits, author_hits, features, id_rank)


@dataclass(slots=True)
class Ranking:
    """Every profile's picks of one batch, kept as arrays; ``why`` is written on demand.

    Row ``i`` belongs to ``profiles[i]``: ``cols`` are paper positions best first (``-1``
    past the profile's picks), ``scores`` their scores, ``best_seed`` the row in
    ``seeds`` most similar to each pick, ``keyword_bits`` / ``author_bits`` which of the
    profile's keywords / authors each pick matched (bit ``j`` = the ``j``-th one).
    """

    profiles: Sequence[ProfileVector]
    papers: Sequence[Paper]
    seeds: Seeds | None
    cols: np.ndarray
    scores: np.ndarray
    best_seed: np.ndarray
    keyword_bits: np.ndarray
    author_bits: np.ndarray
    _said_in: dict[tuple[frozenset[str], tuple[str, ...]], dict[int, str]] = field(
        default_factory=dict
    )

    def __len__(self) -> int:
        return len(self.profiles)

    def count(self, row: int) -> int:
        return int((self.cols[row] >= 0).sum())

    def picks(self, row: int) -> list[ScoredPaper]:
        """Profile ``row``'s picks as :class:`ScoredPaper` s, ``why`` written out."""
        profile = self.profiles[row]
        name = profile.name
        keywords = list(profile.keywords)[:63]
        wanted = _wanted_categories(profile)
        exact, prefixes = wanted
        # what a paper's categories say for a set of wanted ones: many profiles want
        # the same few, so each (set, paper) is worked out once per ranking
        said_in = self._said_in.get(wanted)
        if said_in is None:
            said_in = (
                {} if len(self._said_in) > _SAID_IN_SETS else self._said_in.setdefault(wanted, {})
            )
        titles = self.seeds.short_titles() if self.seeds is not None else []
        papers = self.papers
        out = []
        said: dict[int, str] = {}
        cols = self.cols[row].tolist()
        count = cols.index(-1) if -1 in cols else len(cols)
        for col, score, kw_bits, au_bits, best in zip(
            cols[:count],
            self.scores[row, :count].tolist(),
            self.keyword_bits[row, :count].tolist(),
            self.author_bits[row, :count].tolist(),
            self.best_seed[row, :count].tolist(),
            strict=True,
        ):
            paper = papers[col]
            reasons = []
            if kw_bits:
                found = said.get(kw_bits)
                if found is None:
                    matched = [k for j, k in enumerate(keywords) if kw_bits >> j & 1]
                    found = said[kw_bits] = "keywords: " + ", ".join(matched[:3])
                reasons.append(found)
            if au_bits:
                reasons.append(_author_reason(paper, profile.authors[:63], au_bits))
            if exact or prefixes:
                found = said_in.get(col)
                if found is None:
                    cats = [c for c in paper.categories if c in exact or c.startswith(prefixes)]
                    found = said_in[col] = "in " + ", ".join(cats[:2]) if cats else ""
                if found:
                    reasons.append(found)
            if best >= 0:
                reasons.append(titles[best])
            why = " · ".join(reasons) if reasons else "similar to your interests"
            if len(why) > _WHY_LIMIT:
                why = why[: _WHY_LIMIT - 1] + "\u2026"
            out.append(ScoredPaper(paper, round(score, 4), why, name))
        return out

    def __iter__(self) -> Iterator[list[ScoredPaper]]:
        return (self.picks(row) for row in range(len(self.profiles)))


def score_batch(
    profiles: ProfileSet | Sequence[ProfileVector],
    papers: Sequence[Paper],
    vectors: np.ndarray,
    *,
    seeds: Seeds | None = None,
    weights: Weights = Weights(),
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
    weights: Weights = Weights(),
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
    )
    if n == 0 or k == 0:
        return ranking
    batch = _batch(papers, vectors, pset)
    phrase_dense = batch.phrase_hits.toarray().astype(bool)
    author_dense = batch.author_hits.toarray().astype(bool)
    # only vocabulary the batch actually contains can add to a score
    active = np.unique(batch.features.indices)
    features = pset.features[:, active]
    batch_features = batch.features[:, active].T.toarray()
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
        if features.nnz:
            scores += features[start:stop] @ batch_features
        banned = (pset.exclude[start:stop] @ excluded_t).tocoo()
        scores[banned.row, banned.col] = -np.inf
        cols, values = _top(scores, k, batch.id_rank)
        keep = (
            (position < pset.limits[start:stop, None])
            & np.isfinite(values)
            & (values > pset.floors[start:stop, None])
        )
        cols = np.where(keep, cols, -1)
        ranking.cols[start:stop] = cols
        ranking.scores[start:stop] = np.where(keep, values, 0)
        safe = np.maximum(cols, 0)
        ranking.keyword_bits[start:stop] = _bits(phrase_dense, safe, pset.keyword_cols[start:stop])
        ranking.author_bits[start:stop] = _bits(author_dense, safe, pset.author_cols[start:stop])
        if seed_sims is not None and remap is not None:
            rows = seed_rows[start:stop]
            local = np.where(rows >= 0, remap[np.maximum(rows, 0)], 0)
            # a flat take: twice as fast as the same gather by two index arrays
            sims = seed_sims.ravel().take(local[:, :, None] * seed_sims.shape[1] + safe[:, None, :])
            sims[np.broadcast_to((rows < 0)[:, :, None], sims.shape)] = -np.inf
            best = np.take_along_axis(rows, sims.argmax(axis=1), axis=1)
            has_seed = np.asarray((rows >= 0).any(axis=1))[:, None]
            ranking.best_seed[start:stop] = np.where(has_seed & (cols >= 0), best, -1)

    # chunks write disjoint rows; numpy and scipy release the GIL in the heavy parts
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(run, range(0, n, chunk)))
    return ranking


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


def _wanted_categories(profile: ProfileVector) -> tuple[frozenset[str], tuple[str, ...]]:
    """Categories worth naming in ``why``: asked-for ones (and below them on a dot
    boundary), and those of at least half the seed papers."""
    asked = [c for c, w in profile.categories.items() if w < 0]
    exact = frozenset([*asked, *(c for c, w in profile.categories.items() if w >= 0.5)])
    return exact, tuple(f"{c}." for c in asked)


def _short(title: str, limit: int = 60) -> str:
    return title if len(title) <= limit else title[: limit - 1].rsplit(" ", 1)[0] + "\u2026"


_WHY_LIMIT = 160
_SAID_IN_SETS = 4096


def _author_reason(paper: Paper, authors: Sequence[str], bits: int) -> str:
    names = {fold(a): a for a in paper.authors}
    found = [names[a] for j, a in enumerate(authors) if bits >> j & 1 and a in names]
    return "author: " + ", ".join(found[:2])


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
