"""A bounded load test of the web app, served by `digest serve` (uvicorn) on loopback.

    python benchmarks/bench_web_load.py [--requests 5000] [--concurrency 20] [--readers 2000]

Setup: a data dir with a real daily batch, N readers and one day run for them (so
each has a feed), then `digest serve` on a free loopback port. Scenarios, each
`--requests` requests at `--concurrency` at once (httpx, one connection per worker):

* feed: GET a random reader's personal feed;
* feed-304: the same with the feed's ETag in `If-None-Match`;
* subscribe: GET the form (cookie + token) once per worker, then POST a new address;
* during-the-day (`--day-requests`): two `digest run` at once for the next day (a second real batch,
  every reader due) while the workers subscribe and give feedback; afterwards every
  answered subscribe and feedback must be in the database, no answer may be a 5xx or
  mention a locked database, and each reader must have one ledger row for the day.

Prints throughput, error rate and p50 / p99 latency per scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest.day.run import run_day  # noqa: E402
from digest.day.shard import open_store  # noqa: E402
from digest.day.sources import collect_sources  # noqa: E402
from digest.settings import Settings, SourceSettings  # noqa: E402
from digest.tokens import Tokens  # noqa: E402
from tests.conftest import FIXTURES, NOW  # noqa: E402
from tests.test_shards import DAY, DIGEST, SECRET, make_day  # noqa: E402

NEXT = FIXTURES / "batches" / "2026-07-01.jsonl"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def config(settings: Settings, base: str) -> Path:
    """Served over plain HTTP on loopback, so the form cookie is not marked Secure."""
    path = settings.data_dir.parent / "digest.toml"
    path.write_text(
        f'data_dir = "{settings.data_dir}"\nsecret_key = "{SECRET}"\n'
        f'[web]\nbase_url = "{base}"\n'
        '[mail]\nmailer = "maildir"\nfrom_address = "digest@example.org"\n'
        "[day]\nworkers = 1\n"
    )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Stats:
    def __init__(self, name: str) -> None:
        self.name = name
        self.latencies: list[float] = []
        self.codes: Counter[int] = Counter()
        self.failures: list[str] = []
        self.seconds = 0.0

    def add(self, started: float, code: int, problem: str | None = None) -> None:
        self.latencies.append(time.perf_counter() - started)
        self.codes[code] += 1
        if problem:
            self.failures.append(problem)

    def line(self) -> str:
        n = len(self.latencies)
        ordered = sorted(self.latencies)
        p99 = ordered[min(n - 1, int(n * 0.99))] if n else 0.0
        return (
            f"{self.name:15s} {n:6d} req  {n / self.seconds:7.1f} req/s  "
            f"errors {len(self.failures):4d} ({100 * len(self.failures) / max(n, 1):.2f}%)  "
            f"p50 {1000 * statistics.median(self.latencies) if n else 0:6.1f} ms  "
            f"p99 {1000 * p99:6.1f} ms  codes {dict(sorted(self.codes.items()))}"
        )


async def run_workers(name: str, base: str, total: int, concurrency: int, job: object) -> Stats:
    stats = Stats(name)
    counter = iter(range(total))
    started = time.perf_counter()

    async def worker(w: int) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            state: dict[str, object] = {}
            for i in counter:
                await job(client, state, w, i, stats)  # type: ignore[operator]

    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    stats.seconds = time.perf_counter() - started
    return stats


def check(stats: Stats, t0: float, response: httpx.Response, ok: tuple[int, ...]) -> bool:
    problem = None
    if response.status_code not in ok:
        problem = f"{response.status_code}: {response.text[:120]}"
    elif "locked" in response.text.lower():
        problem = "database is locked"
    stats.add(t0, response.status_code, problem)
    return problem is None


async def subscribe_one(
    client: httpx.AsyncClient, state: dict[str, object], w: int, i: int, stats: Stats, tag: str
) -> str | None:
    if "csrf" not in state:
        page = await client.get("/")
        found = CSRF.search(page.text)
        assert found, page.text[:300]
        state["csrf"] = found.group(1)
    address = f"load-{tag}-{i}@example.org"
    t0 = time.perf_counter()
    try:
        response = await client.post(
            "/",
            data={
                "csrf": state["csrf"],
                "email": address,
                "interests": "language models, diffusion",
                "send_hour": "6",
                "timezone": "UTC",
            },
        )
    except httpx.HTTPError as exc:
        stats.add(t0, 0, f"transport: {exc!r}")
        return None
    return address if check(stats, t0, response, (200,)) else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=5000)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--readers", type=int, default=2000)
    ap.add_argument("--day-requests", type=int, default=1000, help="requests while the day runs")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    os.environ.pop("DIGEST_CONFIG", None)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_day(Path(tmp), args.readers)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        cfg = config(settings, base)
        store = open_store(settings)
        started = time.perf_counter()
        day1 = run_day(store, settings, now=NOW, day=DAY, collect_first=False, workers=1)
        print(
            f"setup: {args.readers} readers, day one sent {day1.sent} in {time.perf_counter() - started:.0f}s"
        )
        tokens = Tokens(SECRET)
        subs = store.subscribers()
        feeds = [f"/f/{tokens.make('feed', s.id)}.rss" for s in subs]
        items = store.items(d.id for d in store.deliveries(day=DAY))
        by_sub = {d.subscriber_id: items[d.id] for d in store.deliveries(day=DAY) if items[d.id]}
        votes = [
            (
                sid,
                f"/fb/{tokens.make('feedback', sid)}/up/{its[0].profile}/{its[0].paper_id}",
                its[0].paper_id,
            )
            for sid, its in by_sub.items()
        ]
        server = subprocess.Popen(
            [DIGEST, "serve", "--host", "127.0.0.1", "--port", str(port), "--config", str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline and server.poll() is None, "serve did not start"
                time.sleep(0.2)
            etags = {}
            for url in feeds:
                r = httpx.get(base + url)
                etags[url] = r.headers.get("etag")
            print(
                f"load: {args.requests} requests per scenario, {args.concurrency} at once, loopback"
            )

            async def feed_job(
                client: httpx.AsyncClient, state: dict[str, object], w: int, i: int, stats: Stats
            ) -> None:
                url = rng.choice(feeds)
                t0 = time.perf_counter()
                try:
                    check(stats, t0, await client.get(url), (200,))
                except httpx.HTTPError as exc:
                    stats.add(t0, 0, repr(exc))

            async def feed304_job(
                client: httpx.AsyncClient, state: dict[str, object], w: int, i: int, stats: Stats
            ) -> None:
                url = rng.choice(feeds)
                t0 = time.perf_counter()
                try:
                    r = await client.get(url, headers={"If-None-Match": etags[url] or ""})
                    check(stats, t0, r, (304,))
                except httpx.HTTPError as exc:
                    stats.add(t0, 0, repr(exc))

            answered: list[str] = []

            async def subscribe_job(
                client: httpx.AsyncClient, state: dict[str, object], w: int, i: int, stats: Stats
            ) -> None:
                address = await subscribe_one(client, state, w, i, stats, "a")
                if address:
                    answered.append(address)

            results = [
                asyncio.run(run_workers("feed", base, args.requests, args.concurrency, feed_job)),
                asyncio.run(
                    run_workers("feed-304", base, args.requests, args.concurrency, feed304_job)
                ),
                asyncio.run(
                    run_workers("subscribe", base, args.requests, args.concurrency, subscribe_job)
                ),
            ]
            for r in results:
                print(r.line())

            # the next day runs twice at once while people subscribe and give feedback
            collect_sources(
                store,
                settings,
                [SourceSettings(name="next", location=str(NEXT))],
                now=NOW + timedelta(days=1),
            )
            day2 = DAY + timedelta(days=1)
            run_args = [DIGEST, "run", "--no-collect", "--date", str(day2), "--config", str(cfg)]
            runs = [
                subprocess.Popen(
                    run_args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                )
                for _ in range(2)
            ]
            voted: list[tuple[int, str]] = []
            during: list[str] = []
            t_day = time.perf_counter()

            async def busy_job(
                client: httpx.AsyncClient, state: dict[str, object], w: int, i: int, stats: Stats
            ) -> None:
                if i % 2:
                    address = await subscribe_one(client, state, w, i, stats, "b")
                    if address:
                        during.append(address)
                    return
                sid, url, paper = votes[(i // 2) % len(votes)]
                t0 = time.perf_counter()
                try:
                    page = await client.get(url)
                    found = CSRF.search(page.text)
                    if not found:
                        stats.add(t0, page.status_code, f"{page.status_code}: {page.text[:120]}")
                        return
                    r = await client.post(url, data={"csrf": found.group(1)})
                    if check(stats, t0, r, (200,)):
                        voted.append((sid, paper))
                except httpx.HTTPError as exc:
                    stats.add(t0, 0, repr(exc))

            busy = asyncio.run(
                run_workers("during-the-day", base, args.day_requests, args.concurrency, busy_job)
            )
            outs = [r.communicate(timeout=1800) for r in runs]
            day_s = time.perf_counter() - t_day
            print(busy.line())
            for r, (out, err) in zip(runs, outs, strict=True):
                summary = " ".join(line.strip() for line in out.splitlines() if "sent" in line)[
                    :200
                ]
                print(f"  digest run exit {r.returncode}: {summary} {err.strip()[-200:]}")
            print(f"  both runs and the load done in {day_s:.0f}s")
            known = {s.email for s in store.subscribers()}
            lost_subs = [a for a in answered + during if a not in known]
            lost_votes = [
                (sid, paper)
                for sid, paper in voted
                if not any(paper in p.liked for p in store.profiles(sid))
            ]
            rows = Counter(d.subscriber_id for d in store.deliveries(day=day2))
            statuses = Counter(d.status for d in store.deliveries(day=day2))
            print(
                f"  subscribes answered: {len(answered) + len(during)}, missing from the database: {len(lost_subs)}; "
                f"feedback answered: {len(voted)}, not recorded: {len(lost_votes)}"
            )
            print(
                f"  day two ledger: {sum(rows.values())} rows for {len(rows)} readers "
                f"(readers with two rows: {sum(1 for c in rows.values() if c > 1)}), {dict(statuses)}"
            )
            failures = [f for r in [*results, busy] for f in r.failures]
            for f in Counter(failures).most_common(5):
                print("  failure:", f)
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
            store.close()


if __name__ == "__main__":
    main()
