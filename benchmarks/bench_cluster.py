"""The day past one machine: digests/s on the local pool (SQLite, PostgreSQL) and on
Celery workers over PostgreSQL, with 1 and 2 workers, and the costs a capacity model
needs (worker seconds per digest by stage, database bytes per digest, broker
commands and bytes per shard).

    python benchmarks/bench_cluster.py [--readers 10000] [--shard-size 2000]
                                       [--corpus PATH] [--state DIR]

Setup, as in bench_day.py (kept in --state DIR and reused): the corpus's 20,000
papers before the batch collected (the text model fitted), N readers imported, the
day's 1,000-paper batch collected; once into a SQLite data dir, once into a
PostgreSQL database (a server started for the benchmark on loopback, like the
tests'), which then serves as the template of every PostgreSQL run. A redis-server
on loopback is the broker.

Each run is `digest run --no-collect --date D --stats …` on a fresh copy, mail to the
Maildir outbox on disk, timed from start to exit; Celery workers (`digest worker
--concurrency 1`, one process each) are started and ready before the clock starts.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_day import CORPUS, DAY, DIGEST, ROOT, SECRET, corpus_lines, readers, write_jsonl

from tests import redis_server
from tests.postgres import PostgresServer, start_postgres, stop_postgres


def config(folder: Path, *, database_url: str | None, broker: str | None, shard_size: int) -> Path:
    lines = [
        f'data_dir = "{folder / "data"}"',
        f'secret_key = "{SECRET}"',
        *(
            [f'database_url = "{database_url}"', 'feed_storage = "database"']
            if database_url
            else []
        ),
        "[web]",
        'base_url = "https://digest.example.org"',
        "[mail]",
        'from_address = "digest@example.org"',
        "[day]",
        f"shard_size = {shard_size}",
        *(['engine = "celery"', "[celery]", f'broker_url = "{broker}"'] if broker else []),
    ]
    path = folder / "digest.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def digest(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DIGEST, *args, "--config", str(cfg)], capture_output=True, text=True, check=True, cwd=ROOT
    )


def setup(folder: Path, rows: list[dict[str, Any]], n: int, cfg: Path) -> None:
    history, batch = rows[-22_000:-2_000], rows[-2_000:-1_000]
    write_jsonl(folder / "history.jsonl", history)
    write_jsonl(folder / "batch.jsonl", batch)
    write_jsonl(folder / "readers.jsonl", readers(history, n, random.Random(7)))
    (folder / "data").mkdir(parents=True, exist_ok=True)
    digest(cfg, "collect", str(folder / "history.jsonl"))
    digest(cfg, "profile", "import", str(folder / "readers.jsonl"))
    digest(cfg, "collect", str(folder / "batch.jsonl"))


def start_workers(cfg: Path, count: int, logs: Path) -> list[subprocess.Popen[bytes]]:
    procs = []
    for n in range(count):
        log = logs / f"worker{n}.log"
        procs.append(
            subprocess.Popen(
                [*DIGEST, "worker", "--config", str(cfg), "--concurrency", "1"],
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=ROOT,
            )
        )
        deadline = time.monotonic() + 120
        while b" ready." not in log.read_bytes():
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker {n} not ready:\n{log.read_text()}")
            time.sleep(0.1)
    return procs


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        proc.wait(timeout=60)


def timed(cfg: Path, stats: Path, workers: int | None) -> tuple[float, dict[str, Any]]:
    args = ["run", "--no-collect", "--date", str(DAY), "--stats", str(stats)]
    if workers:
        args += ["--workers", str(workers)]
    started = time.perf_counter()
    digest(cfg, *args)
    return time.perf_counter() - started, json.loads(stats.read_text())


def pg_sizes(server: PostgresServer, url: str) -> dict[str, int]:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(host="127.0.0.1", port=server.port, user="postgres", dbname=name) as conn:
        found = {
            "database": conn.execute("SELECT pg_database_size(current_database())").fetchone()[0],  # type: ignore[index]
        }
        for table in (
            "deliveries",
            "feed_fragments",
            "subscribers",
            "profiles",
            "papers",
            "embeddings",
        ):
            found[table] = conn.execute(
                "SELECT pg_total_relation_size(%s::regclass)", (table,)
            ).fetchone()[0]  # type: ignore[index]
    return found


def line(label: str, n: int, wall: float, figures: dict[str, Any]) -> str:
    seconds = figures["worker_seconds"]
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in sorted(seconds.items()))
    return (
        f"{label}: wall {wall:.1f}s · {n / wall:,.0f} digests/s · plan {figures['seconds'].get('plan', 0):.1f}s · "
        f"sent {figures['sent']:,} in {figures['shards']} shards · worker time {sum(seconds.values()):.1f}s ({stages})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", type=int, default=10_000)
    parser.add_argument("--shard-size", type=int, default=2000)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--state", type=Path, default=None)
    args = parser.parse_args()
    n = args.readers
    state = args.state or Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    state.mkdir(parents=True, exist_ok=True)
    server = start_postgres(Path(tempfile.mkdtemp(prefix="bench-pg-")))
    broker, broker_url = redis_server.start(state)
    out: list[str] = [
        f"{n:,} readers, shard size {args.shard_size}, batch 1,000 real papers, {os.cpu_count()} cores; Maildir outbox"
    ]
    try:
        rows = corpus_lines(args.corpus)
        lite = state / "sqlite"
        lite.mkdir(exist_ok=True)
        lite_cfg = config(lite, database_url=None, broker=None, shard_size=args.shard_size)
        setup(lite, rows, n, lite_cfg)
        shutil.copytree(lite / "data", lite / "data.clean")
        with psycopg.connect(
            host="127.0.0.1", port=server.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE bench_setup")
        pg = state / "pg-setup"
        pg.mkdir(exist_ok=True)
        setup(
            pg,
            rows,
            n,
            config(
                pg, database_url=server.url("bench_setup"), broker=None, shard_size=args.shard_size
            ),
        )
        for workers in (1, 2):
            shutil.rmtree(lite / "data")
            shutil.copytree(lite / "data.clean", lite / "data")
            wall, figures = timed(lite_cfg, lite / f"stats-{workers}.json", workers)
            out.append(line(f"local pool, SQLite, {workers} worker(s)", n, wall, figures))
            print(out[-1], flush=True)
        for engine in ("local", "celery"):
            for workers in (1, 2):
                url = server.create("bench_setup")
                folder = state / f"{engine}-{workers}"
                shutil.rmtree(folder, ignore_errors=True)
                (folder / "data").mkdir(parents=True)
                cfg = config(
                    folder,
                    database_url=url,
                    broker=broker_url if engine == "celery" else None,
                    shard_size=args.shard_size,
                )
                client = redis.Redis.from_url(broker_url)
                procs = start_workers(cfg, workers, folder) if engine == "celery" else []
                before = client.info("stats")
                size_before = pg_sizes(server, url)
                try:
                    wall, figures = timed(
                        cfg, folder / "stats.json", workers if engine == "local" else None
                    )
                finally:
                    stop_workers(procs)
                after = client.info("stats")
                size_after = pg_sizes(server, url)
                label = "local pool" if engine == "local" else "Celery"
                out.append(line(f"{label}, PostgreSQL, {workers} worker(s)", n, wall, figures))
                grown = {k: size_after[k] - size_before[k] for k in size_after}
                out.append(
                    "  database grew {:,} KB: deliveries {:,} KB, feed_fragments {:,} KB ({:,} bytes a digest)".format(
                        grown["database"] // 1024,
                        grown["deliveries"] // 1024,
                        grown["feed_fragments"] // 1024,
                        (grown["deliveries"] + grown["feed_fragments"]) // max(figures["sent"], 1),
                    )
                )
                if engine == "celery":
                    commands = (
                        after["total_commands_processed"] - before["total_commands_processed"]
                    )
                    net_in = after["total_net_input_bytes"] - before["total_net_input_bytes"]
                    out.append(
                        f"  broker: {commands:,} Redis commands ({commands / figures['shards']:,.0f} a shard), "
                        f"{net_in / 1024:,.0f} KB in ({net_in / figures['shards'] / 1024:,.1f} KB a shard)"
                    )
                print(*out[-3:] if engine == "celery" else out[-2:], sep="\n", flush=True)
                server.drop(url)
        out.append(f"PostgreSQL after setup: {pg_sizes(server, server.url('bench_setup'))}")
    finally:
        broker.terminate()
        stop_postgres(server)
    print("\n".join(out))


if __name__ == "__main__":
    main()
