"""Crash trials: `digest collect` of a large JSON Lines file killed with SIGKILL, then rerun.

    python benchmarks/bench_collect_crash.py [--trials 20] [--papers 20000] [--seed 1]

The input is the first N papers of the real corpus (shared/data/corpus), as one
uncompressed JSON Lines file. Each trial makes a fresh data dir, starts `digest
collect FILE`, kills it with SIGKILL after a seeded random delay (5% to 95% of an
uninterrupted collect), then checks the database: `PRAGMA integrity_check`, how many
papers were stored (a source is stored whole or not at all, so 0 or N), and whether
a batch's recorded size disagrees with the papers it holds (a half-closed batch).
Then it reruns the collect to the end and checks that every paper is stored exactly
once, and that no batch is left half-closed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "data" / "corpus" / "arxiv-cs-daily-2025-03_2026-07.jsonl.gz"
DIGEST = str(Path(sys.executable).parent / "digest")


def make_input(folder: Path, papers: int) -> tuple[Path, int]:
    path = folder / "big.jsonl"
    ids = set()
    with gzip.open(CORPUS, "rt", encoding="utf-8") as corpus, path.open("w") as out:
        for line in corpus:
            if len(ids) == papers:
                break
            ids.add(json.loads(line)["id"])
            out.write(line)
    return path, len(ids)


def config(folder: Path) -> Path:
    cfg = folder / "digest.toml"
    cfg.write_text(f'data_dir = "{folder / "data"}"\nsecret_key = "{"k" * 40}"\n')
    subprocess.run([DIGEST, "init", "--config", str(cfg)], check=True, capture_output=True)
    return cfg


def inspect(folder: Path) -> dict[str, object]:
    db = folder / "data" / "digest.db"
    if not db.exists():
        return {"integrity": "no database", "papers": 0, "distinct": 0, "half_batches": 0}
    conn = sqlite3.connect(db)
    try:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "papers" not in tables:
            return {"integrity": integrity, "papers": 0, "distinct": 0, "half_batches": 0}
        papers, distinct, prints = conn.execute(
            "SELECT count(*), count(DISTINCT id), count(DISTINCT fingerprint) FROM papers"
        ).fetchone()
        half = conn.execute(
            "SELECT count(*) FROM batches b WHERE b.size != "
            "(SELECT count(*) FROM papers p WHERE p.batch_id = b.id)"
        ).fetchone()[0]
    finally:
        conn.close()
    return {
        "integrity": integrity,
        "papers": papers,
        "distinct": distinct,
        "prints": prints,
        "half_batches": half,
    }


def collect(cfg: Path, source: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [DIGEST, "collect", str(source), "--config", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def trial(source: Path, expected: int, delay: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cfg = config(folder)
        first = collect(cfg, source)
        time.sleep(delay)
        killed = first.poll() is None
        if killed:
            os.kill(first.pid, signal.SIGKILL)
        first.wait()
        after_kill = inspect(folder)
        started = time.perf_counter()
        rerun = collect(cfg, source)
        _, err = rerun.communicate(timeout=900)
        rerun_s = time.perf_counter() - started
        after_rerun = inspect(folder)
    return {
        "delay": delay,
        "killed": killed,
        "after_kill": after_kill,
        "rerun_exit": rerun.returncode,
        "rerun_error": err.decode(errors="replace")[-300:] if rerun.returncode else "",
        "after_rerun": after_rerun,
        "rerun_s": rerun_s,
        "lost": expected - int(after_rerun["distinct"]),  # type: ignore[call-overload]
        "duplicates": int(after_rerun["papers"]) - int(after_rerun["distinct"]),  # type: ignore[call-overload]
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--papers", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    os.environ.pop("DIGEST_CONFIG", None)
    with tempfile.TemporaryDirectory() as tmp:
        source, expected = make_input(Path(tmp), args.papers)
        size = source.stat().st_size / 2**20
        with tempfile.TemporaryDirectory() as whole:
            started = time.perf_counter()
            done = collect(config(Path(whole)), source)
            done.wait()
            length = time.perf_counter() - started
            assert inspect(Path(whole))["distinct"] == expected
        print(
            f"input: {expected} real papers, {size:.0f} MiB of JSON Lines; an uninterrupted "
            f"collect (with the text model fit) takes {length:.1f}s"
        )
        print(
            "trial  delay  killed  integrity  papers-after-kill  half-batches  rerun  lost  dup  half-after  rerun-s"
        )
        rows = []
        for n in range(args.trials):
            delay = rng.uniform(0.05 * length, 0.95 * length)
            r = trial(source, expected, delay)
            rows.append(r)
            k, a = r["after_kill"], r["after_rerun"]
            print(
                f"{n + 1:5d}  {delay:5.1f}s  {'yes' if r['killed'] else 'no':>6}  "
                f"{k['integrity']:>9}  {k['papers']:17d}  {k['half_batches']:12d}  "  # type: ignore[index]
                f"{r['rerun_exit']:5d}  {r['lost']:4d}  {r['duplicates']:3d}  "
                f"{a['half_batches']:10d}  {r['rerun_s']:6.1f}"  # type: ignore[index]
            )
            if r["rerun_error"]:
                print("       rerun said:", r["rerun_error"])
    killed = [r for r in rows if r["killed"]]
    bad = [r for r in rows if r["after_kill"]["integrity"] not in ("ok", "no database")]  # type: ignore[index]
    partial = [r for r in rows if r["after_kill"]["papers"] not in (0, expected)]  # type: ignore[index]
    print(
        f"killed mid-collect: {len(killed)} of {len(rows)}; integrity failures: {len(bad)}; "
        f"partly stored sources: {len(partial)}; half-closed batches after a kill: "
        f"{sum(1 for r in rows if r['after_kill']['half_batches'])}, after the rerun: "  # type: ignore[index]
        f"{sum(1 for r in rows if r['after_rerun']['half_batches'])}; "  # type: ignore[index]
        f"reruns failed: {sum(1 for r in rows if r['rerun_exit'])}; papers lost: "
        f"{sum(r['lost'] for r in rows)}; stored twice: {sum(r['duplicates'] for r in rows)}"  # type: ignore[misc]
    )


if __name__ == "__main__":
    main()
