"""A profile as a vector: built when the profile or its feedback changes, never by the day.

A :class:`ProfileVector` is a unit text vector, its keyword, author and category
weights, and its seed papers for explanations. The text vector is the seed and liked
papers' centroid (with the keywords' embedding), pushed away from disliked papers, and
blended, once there are a few papers to learn from, with what sets those papers apart
from the rest of the corpus: their mean less the model's background mean, whitened by
the background's covariance (a linear discriminant, closed form, so that building
100,000 profiles stays cheap), and a logistic regression against the background once
there are enough dislikes. The day still scores it with one dot product per paper.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.linear_model import LogisticRegression

from digest.models import Cutoff, Paper, Profile
from digest.score.text import fold, phrase, short
from digest.score.textmodel import TextModel, paper_text

MIN_LEARN = 3
"""Seed and liked papers a profile needs before it learns its own direction."""
MIN_FEEDBACK = 3
SHRINK = 0.1
"""Added to the background covariance's diagonal before it is inverted: unit vectors
spread over 256 dimensions vary by about 1/256 along each, so this keeps the
discriminant close to the plain difference of means, sharpened a little."""


@dataclass(frozen=True, slots=True)
class Weights:
    text: float = 1.0
    keyword: float = 0.35
    author: float = 1.0
    category: float = 0.25
    seed_category: float = 0.3


DEFAULT_WEIGHTS = Weights()


@dataclass(frozen=True, slots=True)
class Threshold:
    """A cut-off as the daily pass applies it to one profile's scores of a batch: a
    pick must score at least ``relative`` times the day's best, and its text must
    stand out from the day's papers by at least ``spread`` standard deviations above
    their mean text score for this profile (unless something the profile names
    matched). The second part is learned from each day's scores, so that a quiet
    day for a profile stays short instead of padded with noise."""

    relative: float
    spread: float


CUTOFFS: dict[str, Threshold] = {
    "strong": Threshold(relative=0.65, spread=4.0),
    "good": Threshold(relative=0.4, spread=3.0),
    "any": Threshold(relative=0.0, spread=-np.inf),
}


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
    cutoff: Cutoff = "good"
    labels: dict[str, str] = field(default_factory=dict)
    """Each of ``keywords`` as the reader wrote it, for the why lines."""


@dataclass(frozen=True, slots=True)
class Contrast:
    """A text model's background, as a profile's discriminant needs it: its mean, the
    inverse of its shrunk covariance, and the sample itself."""

    mean: np.ndarray
    inverse: np.ndarray
    sample: np.ndarray

    @classmethod
    def of(cls, model: TextModel) -> Contrast | None:
        sample = model.background
        if len(sample) < 2:
            return None
        covariance = np.cov(sample, rowvar=False) + SHRINK * np.eye(sample.shape[1])
        inverse = np.linalg.inv(covariance).astype(np.float32)
        return cls(sample.mean(axis=0), inverse, sample)

    def direction(self, papers: np.ndarray) -> np.ndarray:
        return _unit(self.inverse @ (papers.mean(axis=0) - self.mean))


def warm(model: TextModel) -> None:
    """Make what building a profile's vector needs of the model once, now (its
    projection and its background's contrast, about 0.2 s): a long-running process
    calls this at start rather than in its first request."""
    model.embed_texts(["warm"])
    model.kept("contrast", Contrast.of)


@dataclass(slots=True)
class Seeds:
    """Embeddings and titles of every seed paper any profile points at."""

    vectors: np.ndarray
    titles: list[str]
    _short: list[str] | None = None

    def short_titles(self) -> list[str]:
        """``like “…”`` for every seed, written once."""
        if self._short is None:
            self._short = [f"like \u201c{short(t)}\u201d" for t in self.titles]
        return self._short


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
    keyword_vector: np.ndarray | None = None,
    contrast: Contrast | None = None,
) -> ProfileVector:
    """Turn a profile into its vector. ``seed_rows`` index ``seed_vectors`` (the seed
    and liked papers' embeddings); ``liked``/``disliked`` are embeddings of feedback;
    ``keyword_vector`` is the embedding of the keywords joined, when already computed;
    ``contrast`` is ``Contrast.of(model)``, when already computed."""
    rows = np.asarray(seed_rows, dtype=np.int64)
    positives = [seed_vectors[rows]] if len(rows) else []
    if liked is not None and len(liked):
        positives.append(liked)
    papers = np.vstack(positives) if positives else np.zeros((0, model.dims), np.float32)
    keyword_text = " ".join(k.phrase for k in profile.keywords)
    if keyword_text:
        if keyword_vector is None:
            keyword_vector = model.embed_texts([keyword_text])[0]
        positives.append(keyword_vector[None, :])
    text = np.zeros(model.dims, dtype=np.float32)
    if positives:
        text = _unit(np.vstack(positives).mean(axis=0))
    if contrast is None:
        contrast = model.kept("contrast", Contrast.of)
    if contrast is not None and len(papers) >= MIN_LEARN:
        text = _unit(text + contrast.direction(papers))
    if disliked is not None and len(disliked):
        text = _unit(text - 0.5 * _unit(disliked.mean(axis=0)))
        if len(disliked) >= MIN_FEEDBACK and positives and contrast is not None:
            text = _unit(text + _learned(np.vstack(positives), disliked, contrast.sample))
    affinity: dict[str, float] = {}
    for cats in seed_categories:
        for c in set(cats):
            affinity[c] = affinity.get(c, 0.0) + 1.0 / len(seed_categories)
    return ProfileVector(
        name=profile.name,
        text=text,
        keywords={phrase(k.phrase): k.weight for k in profile.keywords if phrase(k.phrase)},
        labels={phrase(k.phrase): " ".join(k.phrase.split()) for k in profile.keywords},
        exclude=tuple(p for p in (phrase(x) for x in profile.exclude) if p),
        authors=tuple(fold(a) for a in profile.authors),
        categories={**affinity, **{c: -1.0 for c in profile.categories}},
        seed_rows=rows,
        max_papers=profile.max_papers,
        min_score=profile.min_score,
        has_text=bool(positives),
        cutoff=profile.cutoff,
    )


def _learned(positive: np.ndarray, negative: np.ndarray, background: np.ndarray) -> np.ndarray:
    """A per-profile logistic regression: liked vs disliked, the corpus as background."""
    x = np.vstack([positive, negative, background])
    y = np.r_[np.ones(len(positive)), np.zeros(len(negative) + len(background))]
    weights = np.r_[np.ones(len(positive)), np.full(len(negative), 3.0), np.ones(len(background))]
    clf = LogisticRegression(C=1.0, class_weight="balanced", max_iter=500)
    clf.fit(x, y, sample_weight=weights)
    return _unit(clf.coef_[0])


def profile_vectors(
    profiles: Sequence[Profile],
    model: TextModel,
    known: Mapping[str, Paper],
    paper_vectors: Mapping[str, np.ndarray] | None = None,
) -> tuple[list[ProfileVector], Seeds]:
    """Build every profile's vector; seed, liked and disliked ids are looked up in
    ``known`` (ids not found are skipped), inline seeds are embedded as given.
    ``paper_vectors`` holds papers' embeddings already made with ``model``, by paper id:
    those papers are not embedded again."""
    seed_texts: list[tuple[str, str, Sequence[str]]] = []  # title, abstract, authors
    seed_titles: list[str] = []
    seed_index: dict[str, int] = {}

    def row(key: str, title: str, text: tuple[str, str, Sequence[str]]) -> int:
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
                        (paper.title, paper.abstract, paper.authors),
                    )
                )
                cats.append(paper.categories)
            elif seed.title or seed.abstract:
                title = seed.title or (seed.abstract or "")[:80]
                rows.append(
                    row(
                        f"inline:{title}:{seed.abstract}",
                        title,
                        (title, seed.abstract or "", ()),
                    )
                )
        for pid in profile.liked:
            if pid in known:
                p = known[pid]
                liked.append(row(p.id, p.title, (p.title, p.abstract, p.authors)))
        for pid in profile.disliked:
            if pid in known:
                p = known[pid]
                disliked.append(row(p.id, p.title, (p.title, p.abstract, p.authors)))
        plans.append((profile, rows, cats, liked, disliked))
    vectors = _embed_rows(model, seed_texts, list(seed_index), paper_vectors or {})
    keyword_texts = [" ".join(k.phrase for k in p.keywords) for p, *_ in plans]
    with_keywords = [i for i, t in enumerate(keyword_texts) if t]
    embedded = model.embed_texts([keyword_texts[i] for i in with_keywords])
    keyword_vectors: dict[int, np.ndarray] = dict(zip(with_keywords, embedded, strict=True))
    contrast = model.kept("contrast", Contrast.of)
    built = [
        build_profile(
            profile,
            model,
            seed_vectors=vectors,
            seed_rows=rows,
            seed_categories=cats,
            liked=vectors[liked] if liked else None,
            disliked=vectors[disliked] if disliked else None,
            keyword_vector=keyword_vectors.get(i),
            contrast=contrast,
        )
        for i, (profile, rows, cats, liked, disliked) in enumerate(plans)
    ]
    return built, Seeds(vectors, seed_titles)


def _embed_rows(
    model: TextModel,
    texts: Sequence[tuple[str, str, Sequence[str]]],
    keys: Sequence[str],
    embedded: Mapping[str, np.ndarray],
) -> np.ndarray:
    """Each row's embedding: taken from ``embedded`` by key where present, made otherwise."""
    missing = [i for i, key in enumerate(keys) if key not in embedded]
    if len(missing) == len(keys):
        return model.embed_texts([paper_text(*t) for t in texts])
    out = np.zeros((len(keys), model.dims), dtype=np.float32)
    for i, key in enumerate(keys):
        found = embedded.get(key)
        if found is not None:
            out[i] = found
    if missing:
        out[missing] = model.embed_texts([paper_text(*texts[i]) for i in missing])
    return out
