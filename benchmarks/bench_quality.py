"""Ranking quality by category replay on the real corpus, against arxiv-sanity-lite.

    python benchmarks/bench_quality.py [--corpus PATH] [--quick] [--split tuning|held-out|both]

For test days spread over the corpus and the most common primary categories, a profile
is seeded with 10 papers of that primary category from the two weeks before the day
and judged on that day's batch (relevant = papers listing the category); nDCG@10.
Days alternate between a tuning set and a held-out set that is never looked at while
tuning. Both rankers see the same corpus window: the 45 days before the test day plus
the day itself (arxiv-sanity fits its TF-IDF on everything it has stored).
"""

from __future__ import annotations

import argparse
import gzip
import math
import random
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

from digest.models import Keyword, Paper, Profile
from digest.score import Seeds, Weights, build_profile, score_batch
from digest.score.textmodel import TextModel
from digest.sources.formats import parse

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "data" / "corpus" / "arxiv-cs-daily-2025-03_2026-07.jsonl.gz"
WINDOW = 45
KEYWORDS = {
    "cs.CV": ["image", "video", "visual", "segmentation", "3d", "detection"],
    "cs.CL": ["language model", "llm", "text", "translation", "linguistic", "question answering"],
    "cs.AI": ["agent", "reasoning", "planning", "knowledge", "llm agent", "decision making"],
    "cs.LG": ["neural network", "training", "optimization", "generalization", "gradient"],
    "cs.IT": ["channel", "coding", "capacity", "mimo", "wireless", "information theory"],
    "cs.GR": ["rendering", "mesh", "animation", "gaussian splatting", "geometry", "shape"],
    "cs.RO": ["robot", "manipulation", "navigation", "locomotion", "control policy"],
    "cs.CR": ["attack", "security", "privacy", "adversarial", "vulnerability", "malware"],
}


def ndcg10(ranked: Sequence[Paper], category: str) -> float:
    gains = [1.0 if category in p.categories else 0.0 for p in ranked[:10]]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    total = min(10, sum(1 for p in ranked if category in p.categories))
    ideal = sum(1 / math.log2(i + 2) for i in range(total))
    return dcg / ideal if ideal else 0.0


def sanity_tfidf() -> TfidfVectorizer:
    return TfidfVectorizer(
        max_features=20000,
        min_df=5,
        max_df=0.1,
        ngram_range=(1, 2),
        sublinear_tf=True,
        stop_words="english",
        strip_accents="unicode",
        token_pattern=r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b",
    )


def sanity_rank(window: list[Paper], day: list[Paper], positives: set[str], x) -> list[Paper]:  # type: ignore[no-untyped-def]
    y = np.array([1 if p.id in positives else 0 for p in window])
    clf = LinearSVC(class_weight="balanced", C=0.01, max_iter=10000, tol=1e-6)
    clf.fit(x, y)
    offset = len(window) - len(day)
    scores = clf.decision_function(x[offset:])
    return [day[i] for i in np.argsort(-scores, kind="stable")]


def ours_rank(
    model: TextModel,
    vectors: np.ndarray,
    index: dict[str, int],
    window: list[Paper],
    day: list[Paper],
    profile: Profile,
    weights: Weights,
    dislikes: Sequence[Paper] = (),
    background: np.ndarray | None = None,
) -> list[Paper]:
    seed_ids = [s.id for s in profile.seed_papers if s.id]
    rows = [index[i] for i in seed_ids]
    cats = [window[index[i]].categories for i in seed_ids]
    vec = build_profile(
        profile.model_copy(update={"max_papers": 10}),
        model,
        seed_vectors=vectors,
        seed_rows=rows,
        seed_categories=cats,
        disliked=vectors[[index[p.id] for p in dislikes]] if dislikes else None,
        background=background,
    )
    offset = len(window) - len(day)
    (top,) = score_batch(
        [vec],
        day,
        vectors[offset:],
        weights=weights,
        seeds=Seeds(vectors, [p.title for p in window]),
    )
    return [sp.paper for sp in top]


def evaluate(
    days: list[date],
    by_day: dict[date, list[Paper]],
    categories: list[str],
    variants: dict[str, Weights],
    rng_seed: int = 7,
) -> dict[str, list[float]]:
    results: dict[str, list[float]] = defaultdict(list)
    for test_day in days:
        start = time.perf_counter()
        history = [d for d in sorted(by_day) if test_day - timedelta(days=WINDOW) <= d < test_day]
        window = [p for d in history for p in by_day[d]] + by_day[test_day]
        day = by_day[test_day]
        index = {p.id: i for i, p in enumerate(window)}
        x = sanity_tfidf().fit_transform([f"{p.title}. {p.abstract}" for p in window])
        model = TextModel.fit(window)
        vectors = model.embed(window)
        rng = random.Random(rng_seed + test_day.toordinal())
        background = vectors[rng.sample(range(len(window) - len(day)), 200)]
        recent = [p for d in history if d >= test_day - timedelta(days=14) for p in by_day[d]]
        for cat in categories:
            pool = [p for p in recent if p.categories and p.categories[0] == cat]
            if len(pool) < 10 or not any(cat in p.categories for p in day):
                continue
            seeds = rng.sample(pool, 10)
            positives = {p.id for p in seeds}
            seeded = Profile(name=cat, seed_papers=[{"id": p.id} for p in seeds])  # type: ignore[list-item]
            shuffled = day[:]
            rng.shuffle(shuffled)
            results["random"].append(ndcg10(shuffled, cat))
            results["arxiv-sanity (seeds)"].append(
                ndcg10(sanity_rank(window, day, positives, x), cat)
            )
            for label, weights in variants.items():
                results[f"ours (seeds){label}"].append(
                    ndcg10(ours_rank(model, vectors, index, window, day, seeded, weights), cat)
                )
            disliked_pool = [
                p
                for p in recent
                if p.categories and p.categories[0] != cat and cat not in p.categories
            ]
            dislikes = rng.sample(disliked_pool, 3)
            results["arxiv-sanity (seeds+dislikes)"].append(
                ndcg10(sanity_rank(window, day, positives, x), cat)
            )
            results["ours (seeds+dislikes)"].append(
                ndcg10(
                    ours_rank(
                        model, vectors, index, window, day, seeded, Weights(), dislikes, background
                    ),
                    cat,
                )
            )
            kw = Profile(name=cat, keywords=[Keyword(phrase=k) for k in KEYWORDS.get(cat, [])])
            if kw.keywords:
                results["tf-idf query (keywords)"].append(
                    ndcg10(_query_rank(window, day, x, KEYWORDS[cat]), cat)
                )
                results["ours (keywords)"].append(
                    ndcg10(ours_rank(model, vectors, index, window, day, kw, Weights()), cat)
                )
            prolific = _prolific_authors(pool, 15)
            au = Profile(name=cat, authors=prolific)
            results["author filter (authors)"].append(ndcg10(_author_rank(day, prolific), cat))
            results["ours (authors)"].append(
                ndcg10(ours_rank(model, vectors, index, window, day, au, Weights()), cat)
            )
        print(
            f"  {test_day}: {len(day)} papers, window {len(window)}, "
            f"{time.perf_counter() - start:.1f} s",
            file=sys.stderr,
        )
    return results


_QUERY_CACHE: dict[int, TfidfVectorizer] = {}


def _query_rank(window: list[Paper], day: list[Paper], x, words: list[str]) -> list[Paper]:  # type: ignore[no-untyped-def]
    key = id(x)
    if key not in _QUERY_CACHE:
        _QUERY_CACHE.clear()
        _QUERY_CACHE[key] = sanity_tfidf().fit([f"{p.title}. {p.abstract}" for p in window])
    q = _QUERY_CACHE[key].transform([" ".join(words)])
    sims = (x[len(window) - len(day) :] @ q.T).toarray().ravel()
    return [day[i] for i in np.argsort(-sims, kind="stable")]


def _prolific_authors(pool: list[Paper], n: int) -> list[str]:
    counts: dict[str, int] = defaultdict(int)
    for p in pool:
        for a in p.authors:
            counts[a] += 1
    return [a for a, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def _author_rank(day: list[Paper], authors: list[str]) -> list[Paper]:
    wanted = set(authors)
    return sorted(day, key=lambda p: (-len(wanted & set(p.authors)), p.id))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--quick", action="store_true", help="2 days per split")
    ap.add_argument("--split", choices=["tuning", "held-out", "both"], default="both")
    ap.add_argument("--categories", type=int, default=8)
    args = ap.parse_args()

    papers = parse(
        gzip.decompress(args.corpus.read_bytes()), source="corpus", format="jsonl"
    ).papers
    by_day: dict[date, list[Paper]] = defaultdict(list)
    for p in papers:
        if p.published:
            by_day[p.published].append(p)
    counts: dict[str, int] = defaultdict(int)
    for p in papers:
        if p.categories:
            counts[p.categories[0]] += 1
    categories = [c for c, _ in sorted(counts.items(), key=lambda kv: -kv[1])[: args.categories]]
    ordered = sorted(by_day)
    eligible = [
        d for d in ordered if d >= ordered[0] + timedelta(days=WINDOW) and len(by_day[d]) >= 150
    ]
    per_split = 2 if args.quick else 6
    picks = [
        eligible[int(i * (len(eligible) - 1) / (2 * per_split - 1))] for i in range(2 * per_split)
    ]
    splits = {"tuning": picks[0::2], "held-out": picks[1::2]}
    variants = {"": Weights(), " without seed categories": Weights(seed_category=0.0)}
    print(f"corpus: {len(papers)} papers, {len(by_day)} days; categories: {', '.join(categories)}")
    for name, days in splits.items():
        if args.split not in (name, "both"):
            continue
        print(f"\n{name} days: {', '.join(str(d) for d in days)}", flush=True)
        results = evaluate(days, by_day, categories, variants)
        base = float(np.mean(results["arxiv-sanity (seeds)"]))
        print(f"{'ranker (profile shape)':44} {'nDCG@10':>8} {'n':>4}  vs arxiv-sanity (seeds)")
        for label, values in results.items():
            mean = float(np.mean(values))
            print(f"{label:44} {mean:8.3f} {len(values):4d}  {100 * (mean / base - 1):+6.1f}%")


if __name__ == "__main__":
    main()
