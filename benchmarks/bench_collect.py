"""Replay the real arXiv corpus day by day through collect + store.

    python benchmarks/bench_collect.py [--corpus PATH] [--db sqlite:///PATH] [--days N]

Each announcement day becomes one collect run (one batch), written to a fresh SQLite
database. Prints papers/second for parsing and for storing, batches, and database size.
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from datetime import time as dtime
from pathlib import Path

from digest.models import Paper
from digest.sources.formats import parse
from digest.store import Store

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "data" / "corpus" / "arxiv-cs-daily-2025-03_2026-07.jsonl.gz"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--db", default=None, help="SQLAlchemy URL (default: a temporary SQLite file)")
    ap.add_argument("--days", type=int, default=None, help="replay only the first N days")
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory()
    db_path = Path(tmp.name) / "bench.db"
    url = args.db or f"sqlite:///{db_path}"

    t0 = time.perf_counter()
    raw = gzip.decompress(args.corpus.read_bytes())
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = parse(raw, source="corpus", format="jsonl")
    t_parse = time.perf_counter() - t0
    by_day: dict[object, list[Paper]] = defaultdict(list)
    for paper in result.papers:
        by_day[paper.published].append(paper)
    days = sorted(by_day, key=str)[: args.days]

    store = Store.open(url)
    t0 = time.perf_counter()
    stored = 0
    for day in days:
        now = datetime.combine(day, dtime(6)) if day else datetime(2026, 1, 1)  # type: ignore[arg-type]
        batch = store.new_batch(now, ["corpus"])
        new, _ = store.add_papers(batch, by_day[day], now=now)
        store.close_batch(batch)
        stored += new
    t_store = time.perf_counter() - t0
    total = store.count_papers()
    t0 = time.perf_counter()
    rerun = store.new_batch(datetime(2026, 7, 2), ["corpus"])
    again = store.add_papers(rerun, by_day[days[-1]], now=datetime(2026, 7, 2))
    t_rerun = time.perf_counter() - t0
    store.close()

    n = len(result.papers)
    print(f"corpus: {args.corpus.name}  ({len(raw) / 1e6:.1f} MB uncompressed)")
    print(f"parsed: {n} papers, {len(result.warnings)} warnings, error={result.error}")
    print(f"read+gunzip: {t_read:.2f} s   parse: {t_parse:.2f} s  ({n / t_parse:,.0f} papers/s)")
    print(
        f"store: {len(days)} daily batches, {stored} new papers in {t_store:.2f} s "
        f"({stored / t_store:,.0f} papers/s)"
    )
    print(
        f"collect+store: {(t_parse + t_store):.2f} s  ({stored / (t_parse + t_store):,.0f} papers/s)"
    )
    print(f"papers in database: {total}")
    print(
        f"re-collecting the last day again: new={again[0]} updated={again[1]} in {t_rerun * 1000:.0f} ms"
    )
    if url.startswith("sqlite:///"):
        size = sum(p.stat().st_size for p in db_path.parent.glob("bench.db*"))
        print(f"database size: {size / 1e6:.1f} MB ({size / max(total, 1):,.0f} bytes/paper)")


if __name__ == "__main__":
    main()
