"""Scoring speed: many real-paper profiles against a real batch, top 20 with explanations.

    python benchmarks/bench_scoring_speed.py [--corpus PATH] [--profiles 100000] [--papers 1000]
    python benchmarks/bench_scoring_speed.py --grid     # 10k/100k profiles x 1k/5k papers

The daily pass ranks every profile and finds what each pick matched (keywords,
authors, closest seed) as arrays; "why text" is the separate cost of writing all those
explanations out as strings, which the daily run does one subscriber at a time while
rendering. Profiles are built from corpus papers announced before the batch (5-20 seed papers and
2-3 keywords from their titles each, fixed seed). Building profile vectors happens when
profiles change, so it is timed apart from the daily pass, which is the target
(<= 5 s, <= 2 GB). Each configuration runs in its own process; peak RSS is that
process's high-water mark: "pass RSS" is a fresh process that loads the built profiles,
the batch and its embeddings and runs only the daily pass (what the daily job holds);
"setup RSS" is the process that parsed the corpus and fitted the model.
"""

from __future__ import annotations

import argparse
import gzip
import json
import pickle
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from digest.models import Keyword, Paper, Profile, SeedPaper
from digest.score import ProfileSet, profile_vectors, rank_batch
from digest.score.textmodel import TextModel
from digest.sources.formats import parse

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "data" / "corpus" / "arxiv-cs-daily-2025-03_2026-07.jsonl.gz"
STOP = {"a", "an", "the", "of", "for", "and", "in", "on", "with", "to", "via", "from", "by", "is"}


def make_profiles(pool: list[Paper], n: int, rng: random.Random) -> list[Profile]:
    profiles = []
    for i in range(n):
        seeds = rng.sample(pool, rng.randint(5, 20))
        words = [w.strip(":,.()").lower() for w in seeds[0].title.split()]
        words = [w for w in words if len(w) > 3 and w not in STOP]
        keywords = [
            Keyword(phrase=w) for w in rng.sample(words, min(len(words), rng.randint(2, 3)))
        ]
        profiles.append(
            Profile(
                name=f"p{i}", keywords=keywords, seed_papers=[SeedPaper(id=s.id) for s in seeds]
            )
        )
    return profiles


def child(corpus: Path, n_profiles: int, n_papers: int) -> dict[str, float]:
    t = time.perf_counter()
    papers = parse(gzip.decompress(corpus.read_bytes()), source="corpus", format="jsonl").papers
    papers.sort(key=lambda p: (p.published or p.id, p.id))
    batch = papers[-n_papers:]
    history = papers[:-n_papers]
    load = time.perf_counter() - t

    t = time.perf_counter()
    model = TextModel.fit(history[-40_000:])
    fit = time.perf_counter() - t

    rng = random.Random(42)
    pool = history[-20_000:]
    t = time.perf_counter()
    profiles = make_profiles(pool, n_profiles, rng)
    vectors, seeds = profile_vectors(profiles, model, {p.id: p for p in pool})
    profile_set = ProfileSet.build(vectors)
    build = time.perf_counter() - t

    t = time.perf_counter()
    embedded = model.embed(batch)
    embed = time.perf_counter() - t
    # the daily pass runs in a fresh process that holds only what the daily job holds
    state = Path(tempfile.mkdtemp()) / "state.pickle"
    state.write_bytes(pickle.dumps((profile_set, seeds, batch, embedded), protocol=5))
    setup_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    daily = json.loads(
        subprocess.run(
            [sys.executable, __file__, "--daily", str(state)],
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    state.unlink()
    return {
        "profiles": n_profiles,
        "papers": n_papers,
        "load_s": load,
        "fit_s": fit,
        "build_profiles_s": build,
        "embed_batch_s": embed,
        "setup_peak_rss_mb": setup_peak,
        **daily,
    }


def daily_pass(state: Path) -> dict[str, float]:
    profile_set, seeds, batch, embedded = pickle.loads(state.read_bytes())
    t = time.perf_counter()
    ranking = rank_batch(profile_set, batch, embedded, seeds=seeds)
    score = time.perf_counter() - t
    kept = int((ranking.cols >= 0).sum())
    t = time.perf_counter()
    written = sum(len(sp.why) > 0 for picks in ranking for sp in picks)
    why = time.perf_counter() - t
    assert written == kept
    return {
        "daily_pass_s": score,
        "why_text_s": why,
        "kept": kept,
        "peak_rss_mb": _hwm_mb(),
    }


def _hwm_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited
    from the parent across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(corpus: Path, n_profiles: int, n_papers: int) -> dict[str, float]:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            "--corpus",
            str(corpus),
            "--profiles",
            str(n_profiles),
            "--papers",
            str(n_papers),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--profiles", type=int, default=100_000)
    ap.add_argument("--papers", type=int, default=1000)
    ap.add_argument("--grid", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--daily", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.daily:
        print(json.dumps(daily_pass(args.daily)))
        return
    if args.child:
        print(json.dumps(child(args.corpus, args.profiles, args.papers)))
        return
    configs = (
        [(10_000, 1000), (100_000, 1000), (10_000, 5000), (100_000, 5000)]
        if args.grid
        else [(args.profiles, args.papers)]
    )
    print(
        f"{'profiles':>9} {'papers':>7} {'daily pass':>11} {'why text':>9} {'embed batch':>12} "
        f"{'build profiles':>15} {'fit model':>10} {'kept':>9} {'pass RSS':>9} {'setup RSS':>10}"
    )
    for n_profiles, n_papers in configs:
        r = run(args.corpus, n_profiles, n_papers)
        print(
            f"{r['profiles']:>9,} {r['papers']:>7,} {r['daily_pass_s']:>10.2f}s {r['why_text_s']:>8.2f}s "
            f"{r['embed_batch_s']:>11.2f}s {r['build_profiles_s']:>14.2f}s {r['fit_s']:>9.2f}s "
            f"{r['kept']:>9,} {r['peak_rss_mb']:>7.0f}MB {r['setup_peak_rss_mb']:>8.0f}MB",
            flush=True,
        )


if __name__ == "__main__":
    main()
