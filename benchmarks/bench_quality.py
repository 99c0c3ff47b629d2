"""Ranking quality by category replay on the real corpus, against arxiv-sanity-lite.

    python benchmarks/bench_quality.py [--corpus PATH] [--quick] [--split tuning|held-out|both]
                                       [--ceiling] [--digests]

For test days spread over the corpus and the most common primary categories, a profile
is seeded with 10 papers of that primary category from the two weeks before the day
and judged on that day's batch (relevant = the day's papers listing the category);
nDCG@10, the ideal ranking being that of all the day's relevant papers. Days alternate
between a tuning set and a held-out set that is never looked at while tuning.

Every ranker sees the same file, as ``digest rank`` does: the profile's seed (and
disliked) papers and the day's papers, and nothing else; each fits its text features
on that file alone. Two tables on the same tasks: "text only" gives every ranker the
title and abstract and nothing more (no categories, no authors, anywhere), "with
categories" gives them the papers as announced. Ours is ``digest rank``'s code path
(:func:`digest.rank.rank_papers`). ``--ceiling`` adds, to the text-only table, a
classifier that is told the answer: trained on 90 days of category labels. It bounds
what title and abstract can say about a category, for any ranker.

``--digests`` adds what a digest would hold: the day's papers alone ranked as the day
ranks them, with each relevance cut-off (``good``, the default, and ``strong``) and
``max_papers`` 20: papers kept, the share of profiles that got none, precision of what
was kept, and recall against what 20 could hold (the relevant papers, at most 20).
"""

from __future__ import annotations

import argparse
import gzip
import math
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from digest.models import Keyword, Paper, Profile, SeedPaper
from digest.rank import rank_papers
from digest.score.textmodel import TextModel
from digest.sources.formats import parse

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "data" / "corpus" / "arxiv-cs-daily-2025-03_2026-07.jsonl.gz"
HISTORY = 14
CEILING_DAYS = 90
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
TABLES = ("text only", "with categories")
CUT = "cut-off "
"""Prefix of the labels ``--digests`` records, reported in a table of their own."""
DIGEST_PAPERS = 20
"""``max_papers`` of the digests ``--digests`` makes."""


def ndcg10(ranked: Sequence[str], relevant: set[str]) -> float:
    """nDCG@10 of ranked ids; the ideal is every relevant paper of the day first."""
    dcg = sum(1 / math.log2(i + 2) for i, pid in enumerate(ranked[:10]) if pid in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(10, len(relevant))))
    return dcg / ideal if ideal else 0.0


def text_only(paper: Paper) -> Paper:
    return Paper(id=paper.id, title=paper.title, abstract=paper.abstract)


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


def sanity_rank(file: list[Paper], positives: set[str], x) -> list[str]:  # type: ignore[no-untyped-def]
    """arxiv-sanity-lite: a linear SVM, tagged papers against everything else stored."""
    y = np.array([1 if p.id in positives else 0 for p in file])
    clf = LinearSVC(class_weight="balanced", C=0.01, max_iter=10000, tol=1e-6)
    clf.fit(x, y)
    scores = clf.decision_function(x)
    return [file[i].id for i in np.argsort(-scores, kind="stable")]


def query_rank(file: list[Paper], words: list[str]) -> list[str]:
    vectorizer = sanity_tfidf()
    x = vectorizer.fit_transform([f"{p.title}. {p.abstract}" for p in file])
    sims = (x @ vectorizer.transform([" ".join(words)]).T).toarray().ravel()
    return [file[i].id for i in np.argsort(-sims, kind="stable")]


def ours(file: list[Paper], profile: Profile, model: TextModel) -> list[str]:
    # as `digest rank` does: every paper ranked, no relevance cut-off
    everything = profile.model_copy(
        update={"max_papers": 200, "min_score": -np.inf, "cutoff": "any"}
    )
    return [sp.paper.id for sp in rank_papers(file, everything, model=model)]


def digest(
    day: list[Paper], known: dict[str, Paper], profile: Profile, cutoff: str, model: TextModel
) -> list[str]:
    """What the day would send: the day's papers alone ranked (the seeds are looked up
    in ``known``, not candidates), with this relevance cut-off and ``DIGEST_PAPERS``."""
    limited = profile.model_copy(update={"cutoff": cutoff, "max_papers": DIGEST_PAPERS})
    return [sp.paper.id for sp in rank_papers(day, limited, model=model, known=known)]


def told_the_answer(train: list[Paper], day: list[Paper]) -> Callable[[str], list[str]]:
    """A ceiling for text alone, not a ranker anyone could ship: for a category, a
    TF-IDF logistic regression trained on the labels of the ``CEILING_DAYS`` before the
    day (about 15,000 papers), ranking the day's papers by title and abstract."""
    vectorizer = TfidfVectorizer(
        max_features=100_000,
        min_df=3,
        max_df=0.5,
        ngram_range=(1, 2),
        sublinear_tf=True,
        stop_words="english",
        strip_accents="unicode",
        dtype=np.float32,
    )
    x = vectorizer.fit_transform([f"{p.title}. {p.abstract}" for p in train])
    x_day = vectorizer.transform([f"{p.title}. {p.abstract}" for p in day])

    def rank(cat: str) -> list[str]:
        labels = np.array([cat in p.categories for p in train], dtype=int)
        scores = LogisticRegression(C=10.0, max_iter=2000).fit(x, labels).decision_function(x_day)
        return [day[i].id for i in np.argsort(-scores, kind="stable")]

    return rank


def prolific(pool: list[Paper], n: int) -> list[str]:
    counts: dict[str, int] = defaultdict(int)
    for p in pool:
        for a in p.authors:
            counts[a] += 1
    return [a for a, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def evaluate(
    days: list[date],
    by_day: dict[date, list[Paper]],
    categories: list[str],
    rng_seed: int = 7,
    ceiling: bool = False,
    digests: bool = False,
) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {t: defaultdict(list) for t in TABLES}
    for test_day in days:
        start = time.perf_counter()
        day = by_day[test_day]
        day_ids = {p.id for p in day}
        recent = [
            p
            for d in sorted(by_day)
            if test_day - timedelta(days=HISTORY) <= d < test_day
            for p in by_day[d]
        ]
        told = None
        if ceiling:
            window = test_day - timedelta(days=CEILING_DAYS)
            train = [p for d in sorted(by_day) if window <= d < test_day for p in by_day[d]]
            told = told_the_answer(train, day)
        rng = random.Random(rng_seed + test_day.toordinal())
        for cat in categories:
            pool = [p for p in recent if p.categories and p.categories[0] == cat]
            relevant = {p.id for p in day if cat in p.categories}
            if len(pool) < 10 or not relevant:
                continue
            seeds = rng.sample(pool, 10)
            others = [p for p in recent if cat not in p.categories]
            dislikes = rng.sample(others, 3)
            shuffled = [p.id for p in day]
            rng.shuffle(shuffled)
            authors = prolific(pool, 15)
            positives = {p.id for p in seeds}
            seeded = Profile(name=cat, seed_papers=[SeedPaper(id=p.id) for p in seeds])
            disliking = seeded.model_copy(update={"disliked": [p.id for p in dislikes]})
            keyworded = Profile(
                name=cat, keywords=[Keyword(phrase=k) for k in KEYWORDS.get(cat, [])]
            )
            authored = Profile(name=cat, authors=authors)

            for table in TABLES:
                strip = text_only if table == "text only" else (lambda p: p)
                file = [strip(p) for p in [*seeds, *dislikes, *day]]
                model = TextModel.fit(file)
                x = sanity_tfidf().fit_transform([f"{p.title}. {p.abstract}" for p in file])
                res = results[table]

                def score(label: str, ranked: list[str]) -> None:
                    res[label].append(ndcg10([i for i in ranked if i in day_ids], relevant))  # noqa: B023

                score("random", shuffled)
                sanity = sanity_rank(file, positives, x)
                score("arxiv-sanity (seeds)", sanity)
                score("ours (seeds)", ours(file, seeded, model))
                score("arxiv-sanity (seeds+dislikes)", sanity)
                score("ours (seeds+dislikes)", ours(file, disliking, model))
                if keyworded.keywords:
                    score("tf-idf query (keywords)", query_rank(file, KEYWORDS[cat]))
                    score("ours (keywords)", ours(file, keyworded, model))
                if told is not None and table == "text only":
                    score("ceiling: told the categories", told(cat))
                if digests:
                    shapes = {"seeds": seeded, "seeds+dislikes": disliking}
                    if keyworded.keywords:
                        shapes["keywords"] = keyworded
                    known = {p.id: p for p in file}
                    candidates = [p for p in file if p.id in day_ids]
                    for shape, profile in shapes.items():
                        for cutoff in ("good", "strong"):
                            kept = digest(candidates, known, profile, cutoff, model)
                            key = f"{CUT}{shape}|{cutoff}"
                            hits = len(relevant.intersection(kept))
                            res[key + "|kept"].append(len(kept))
                            res[key + "|none"].append(float(not kept))
                            if kept:
                                res[key + "|precision"].append(hits / len(kept))
                            res[key + "|recall"].append(hits / min(len(relevant), DIGEST_PAPERS))
                if table != "text only":
                    wanted = set(authors)
                    by_authors = sorted(day, key=lambda p: (-len(wanted & set(p.authors)), p.id))
                    score("author filter (authors)", [p.id for p in by_authors])
                    score("ours (authors)", ours(file, authored, model))
        print(
            f"  {test_day}: {len(day)} papers, {time.perf_counter() - start:.1f} s", file=sys.stderr
        )
    return results


def report(name: str, days: list[date], results: dict[str, dict[str, list[float]]]) -> None:
    print(f"\n{name} days: {', '.join(str(d) for d in days)}")
    labels = list(
        dict.fromkeys(label for t in TABLES for label in results[t] if not label.startswith(CUT))
    )
    header = "".join(f" {t:>20}" for t in TABLES)
    print(f"{'ranker (profile shape)':32}{header}")
    print(f"{'':32}" + "".join(f" {'nDCG@10':>7} {'n':>3} {'vs as':>7}" for _ in TABLES))
    for label in labels:
        cells = []
        for table in TABLES:
            values = results[table].get(label)
            if not values:
                cells.append(f" {'':>20}")
                continue
            mean = float(np.mean(values))
            base = float(np.mean(results[table]["arxiv-sanity (seeds)"]))
            cells.append(f" {mean:7.3f} {len(values):3d} {mean / base:6.2f}x")
        print(f"{label:32}" + "".join(cells), flush=True)


def report_digests(name: str, results: dict[str, dict[str, list[float]]]) -> None:
    rows = list(
        dict.fromkeys(
            label.removeprefix(CUT).rsplit("|", 1)[0]
            for t in TABLES
            for label in results[t]
            if label.startswith(CUT)
        )
    )
    if not rows:
        return
    print(f"\n{name} days, digests at the cut-off (max_papers {DIGEST_PAPERS})")
    header = "".join(f" {t:>32}" for t in TABLES)
    print(f"{'profile shape | cut-off':32}{header}")
    columns = ("kept", "none", "precision", "recall")
    print(
        (
            f"{'':32}" + "".join("".join(f" {c:>7}" for c in columns) + "    " for _ in TABLES)
        ).rstrip()
    )
    for row in rows:
        cells = []
        for table in TABLES:
            values = [results[table].get(f"{CUT}{row}|{c}", []) for c in columns]
            cells.append(
                "".join(f" {np.mean(v):7.2f}" if v else f" {'':>7}" for v in values) + "    "
            )
        print((f"{row:32}" + "".join(cells)).rstrip(), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--quick", action="store_true", help="2 days per split")
    ap.add_argument("--split", choices=["tuning", "held-out", "both"], default="both")
    ap.add_argument("--categories", type=int, default=8)
    ap.add_argument(
        "--ceiling",
        action="store_true",
        help=f"add a classifier trained on {CEILING_DAYS} days' category labels: how far text goes",
    )
    ap.add_argument(
        "--digests",
        action="store_true",
        help="add what a digest would hold with each relevance cut-off: kept, precision, recall",
    )
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
        d for d in ordered if d >= ordered[0] + timedelta(days=45) and len(by_day[d]) >= 150
    ]
    per_split = 2 if args.quick else 6
    picks = [
        eligible[int(i * (len(eligible) - 1) / (2 * per_split - 1))] for i in range(2 * per_split)
    ]
    splits = {"tuning": picks[0::2], "held-out": picks[1::2]}
    print(f"corpus: {len(papers)} papers, {len(by_day)} days; categories: {', '.join(categories)}")
    print("'vs as' = mean nDCG@10 / arxiv-sanity (seeds) mean in the same table")
    for name, days in splits.items():
        if args.split in (name, "both"):
            results = evaluate(days, by_day, categories, ceiling=args.ceiling, digests=args.digests)
            report(name, days, results)
            report_digests(name, results)


if __name__ == "__main__":
    main()
