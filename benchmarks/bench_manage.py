"""The manage page with a year of arXiv stored, served by `digest serve` on loopback.

    python benchmarks/bench_manage.py [--papers 250000] [--requests 100] [--corpus PATH]
                                      [--state DIR]

Setup (kept in --state DIR and reused): `digest collect` of --papers stored papers
(the corpus's papers, then copies of them under fresh ids until there are enough; the
first collect fits the text model), then the corpus's last 1,000 papers as the day's
batch, and three readers imported with `digest profile import`: one with keywords
only (a new reader, offered papers to rate), one with 8 seed papers and a keyword,
and one with two profiles. Nobody has had a digest yet.

Then `digest serve` in its own process, and for each reader: the first load of the
manage page (the server reads the stored model), then --requests loads one after
another (p50, p95, max); then the same after `digest run` has sent each a first
digest. Also a POST of the "preview without saving" button, which ranks the edited
profiles.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_day import (  # noqa: E402
    CORPUS,
    DIGEST,
    SECRET,
    corpus_lines,
    digest,
    write_jsonl,
)
from digest.settings import load_settings  # noqa: E402
from digest.store import Store  # noqa: E402
from digest.tokens import Tokens  # noqa: E402
from tests.web.helpers import manage_data  # noqa: E402

DAY = date(2026, 7, 1)


def copies(rows: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """``n`` papers: ``rows``, then copies of them under ids no real paper has."""
    out = list(rows[:n])
    i = 0
    while len(out) < n:
        row = rows[i % len(rows)]
        number = len(out)
        fake = f"{number // 1_200_000 + 1:02d}{number // 99_999 % 12 + 1:02d}.{number % 99_999 + 1:05d}"
        out.append({**row, "id": fake, "url": f"https://arxiv.org/abs/{fake}"})
        i += 1
    return out


def readers(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rng = random.Random(3)
    seeds = [{"id": r["id"]} for r in rng.sample(history[-20_000:], 8)]
    return [
        {
            "email": "new@example.org",
            "profiles": [{"name": "main", "keywords": ["diffusion", "graph", "robot"]}],
        },
        {
            "email": "seeded@example.org",
            "profiles": [{"name": "main", "keywords": ["language model"], "seed_papers": seeds}],
        },
        {
            "email": "two@example.org",
            "profiles": [
                {"name": "vision", "keywords": ["segmentation"], "categories": ["cs.CV"]},
                {"name": "theory", "keywords": ["complexity", "lower bound"]},
            ],
        },
    ]


def config(folder: Path, port: int) -> Path:
    path = folder / "digest.toml"
    path.write_text(
        f'data_dir = "{folder / "data"}"\nsecret_key = "{SECRET}"\n'
        f'[web]\nbase_url = "http://127.0.0.1:{port}"\n'
        '[mail]\nfrom_address = "digest@example.org"\n',
        encoding="utf-8",
    )
    return path


def setup(folder: Path, corpus: Path, papers: int, cfg: Path) -> None:
    rows = corpus_lines(corpus)
    history = copies(rows[:-1_000], papers - 1_000)
    write_jsonl(folder / "history.jsonl", history)
    write_jsonl(folder / "batch.jsonl", rows[-1_000:])
    write_jsonl(folder / "readers.jsonl", readers(rows[:-1_000]))
    digest(cfg, "init")
    t = time.perf_counter()
    digest(cfg, "collect", str(folder / "history.jsonl"))
    print(f"setup: {len(history):,} papers collected in {time.perf_counter() - t:.0f}s")
    digest(cfg, "collect", str(folder / "batch.jsonl"))
    digest(cfg, "profile", "import", str(folder / "readers.jsonl"))
    shutil.copytree(folder / "data", folder / "data.clean")
    (folder / "setup.done").write_text("", encoding="utf-8")


def serve(cfg: Path, port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [*DIGEST, "serve", "--host", "127.0.0.1", "--port", str(port), "--config", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise RuntimeError("digest serve did not start")
        time.sleep(0.2)


def ms(seconds: list[float]) -> str:
    cut = statistics.quantiles(seconds, n=20)
    return (
        f"p50 {statistics.median(seconds) * 1000:.0f} ms, p95 {cut[18] * 1000:.0f} ms, "
        f"max {max(seconds) * 1000:.0f} ms"
    )


def measure(client: httpx.Client, url: str, requests: int, label: str) -> None:
    t = time.perf_counter()
    first = client.get(url)
    first_s = time.perf_counter() - t
    assert first.status_code == 200, first.text[:500]
    times = []
    for _ in range(requests):
        t = time.perf_counter()
        r = client.get(url)
        times.append(time.perf_counter() - t)
        assert r.status_code == 200
    rate = "offers papers to rate" if 'value="rate"' in first.text else "nothing to rate"
    print(f"  {label}: first {first_s * 1000:.0f} ms; then {ms(times)} ({rate})")
    form = manage_data(first.text)
    form["action"] = "preview"
    times = []
    for _ in range(max(requests // 5, 5)):
        t = time.perf_counter()
        r = client.post(url, data=form)
        times.append(time.perf_counter() - t)
        assert r.status_code == 200 and "with your unsaved changes" in r.text, r.status_code
    print(f"  {label}, 'preview without saving' (POST): {ms(times)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--papers", type=int, default=250_000)
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--state", type=Path, default=ROOT / ".bench-state" / "manage")
    args = ap.parse_args()
    os.environ.pop("DIGEST_CONFIG", None)
    folder = args.state / str(args.papers)
    folder.mkdir(parents=True, exist_ok=True)
    port = 8700 + random.Random().randrange(200)
    cfg = config(folder, port)
    if not (folder / "setup.done").exists():
        shutil.rmtree(folder / "data", ignore_errors=True)
        shutil.rmtree(folder / "data.clean", ignore_errors=True)
        setup(folder, args.corpus, args.papers, cfg)
    shutil.rmtree(folder / "data", ignore_errors=True)
    shutil.copytree(folder / "data.clean", folder / "data")
    store = Store.open(load_settings(cfg).db_url)
    emails = [r["email"] for r in readers([{"id": "x"}] * 20_000)]
    ids = {e: store.subscriber(e).id for e in emails}  # type: ignore[union-attr]
    print(f"manage page, `digest serve` on loopback; {store.count_papers():,} papers stored")
    store.close()
    tokens = Tokens(SECRET)
    for when in ("before any digest", "after a first digest"):
        if when.startswith("after"):
            digest(cfg, "run", "--no-collect", "--date", str(DAY + timedelta(days=1)))
        server = serve(cfg, port)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                print(f"\n## {when}")
                for email in emails:
                    url = f"/m/{tokens.make('manage', ids[email])}"
                    measure(client, url, args.requests, email)
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
