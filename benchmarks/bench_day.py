"""`digest run` itself, for N readers, on a real data dir.

    python benchmarks/bench_day.py [--readers 10000 50000 100000] [--smtp 10000]
                                   [--corpus PATH] [--state DIR] [--naive 100]
                                   [--cutoff strong|good|any]

For each N, the setup (kept in --state DIR/N and reused) is what an operator does:

  1. `digest collect history.jsonl`: the corpus's 20,000 papers before the batch
     (this fits the text model);
  2. `digest profile import readers.jsonl`: N readers, each with 8 real seed papers
     of one topic and one keyword (timed: readers/s);
  3. `digest collect batch.jsonl`: the corpus's last 1,000 papers, the day's batch.

Then, timed, in a fresh process: `digest run --no-collect --date D --stats …` with the
Maildir outbox on disk; peak PSS and RSS summed over the run and its workers (sampled
from /proc), disk written (outbox, feeds, database growth), per-stage figures from the
run's own --stats. Then a second day: a new 1,000-paper batch collected and
`digest run` for D+1, which must refit and rebuild nothing.

--smtp N also runs N readers' day to a loopback SMTP sink (aiosmtpd, in its own
process), after measuring the sink alone with a plain smtplib client. --naive times
the naive way (each email rendered whole by Jinja, premailer on each, the email
package) on a sample of the same readers' picks, as a ratio to the measured day.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import logging
import os
import random
import shutil
import smtplib
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "data" / "corpus" / "arxiv-cs-daily-2025-03_2026-07.jsonl.gz"
DAY = date(2026, 7, 1)
SECRET = "bench-secret-" + "x" * 24
DIGEST = [str(Path(sys.executable).with_name("digest"))]


# setup -----------------------------------------------------------------------------


def corpus_lines(path: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]
    rows.sort(key=lambda r: (r.get("date") or "", r["id"]))
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def readers(
    pool: list[dict[str, Any]], n: int, rng: random.Random, cutoff: str | None = None
) -> list[dict[str, Any]]:
    """N readers, each 8 seed papers of one category and a title word of one of them
    (and the relevance ``cutoff``, if given; else the profile's default)."""
    by_cat: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in pool:
        if row.get("categories"):
            by_cat[row["categories"][0]].append(row)
    cats = [c for c, rows in by_cat.items() if len(rows) >= 20]
    out = []
    for i in range(n):
        rows = by_cat[rng.choice(cats)]
        seeds = rng.sample(rows, 8)
        words = [w.strip(",.:;()").lower() for w in seeds[0]["title"].split()]
        words = [w for w in words if len(w) > 6 and w.isalpha()] or ["learning"]
        out.append(
            {
                "email": f"reader{i}@example.org",
                "send_hour": 6,
                "profiles": [
                    {
                        "name": "main",
                        "keywords": [rng.choice(words)],
                        "seed_papers": [{"id": s["id"]} for s in seeds],
                        "max_papers": 20,
                        **({"cutoff": cutoff} if cutoff else {}),
                    }
                ],
            }
        )
    return out


def config(folder: Path, *, smtp_port: int | None = None) -> Path:
    mail = (
        f'[mail]\nmailer = "smtp"\nfrom_address = "digest@example.org"\nretries = 1\n'
        f'retry_backoff = 0.1\n[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\n'
        f'security = "plain"\n'
        if smtp_port
        else '[mail]\nfrom_address = "digest@example.org"\n'
    )
    path = folder / "digest.toml"
    path.write_text(
        f'data_dir = "{folder / "data"}"\nsecret_key = "{SECRET}"\n'
        f'[web]\nbase_url = "https://digest.example.org"\n{mail}',
        encoding="utf-8",
    )
    return path


def digest(cfg: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DIGEST, *args, "--config", str(cfg)],
        capture_output=True,
        text=True,
        check=check,
        cwd=ROOT,
    )


def setup(
    folder: Path, rows: list[dict[str, Any]], n: int, cutoff: str | None = None
) -> dict[str, float]:
    folder.mkdir(parents=True, exist_ok=True)
    cfg = config(folder)
    history, batch, nextday = rows[-22_000:-2_000], rows[-2_000:-1_000], rows[-1_000:]
    for name, part in (("history", history), ("batch", batch), ("nextday", nextday)):
        write_jsonl(folder / f"{name}.jsonl", part)
    write_jsonl(folder / "readers.jsonl", readers(history, n, random.Random(7), cutoff))
    digest(cfg, "init")
    t = time.perf_counter()
    digest(cfg, "collect", str(folder / "history.jsonl"))
    collect_s = time.perf_counter() - t
    t = time.perf_counter()
    digest(cfg, "profile", "import", str(folder / "readers.jsonl"))
    import_s = time.perf_counter() - t
    digest(cfg, "collect", str(folder / "batch.jsonl"))
    shutil.copytree(folder / "data", folder / "data.clean")
    figures = {"collect_history_s": collect_s, "import_s": import_s}
    (folder / "setup.json").write_text(json.dumps(figures))
    return figures


# measuring a run ---------------------------------------------------------------------------


class Sampler(threading.Thread):
    """Peak RSS (every 250 ms) and PSS (every 1 s) summed over ``root`` and its
    descendants."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.rss = 0.0
        self.pss = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        page_kb = os.sysconf("SC_PAGE_SIZE") / 1024
        tick = 0
        while not self.stop.wait(0.25):
            rss = pss = 0.0
            for pid in _tree(self.root):
                with contextlib.suppress(OSError, IndexError):
                    rss += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page_kb
                    if tick % 4 == 0:
                        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                            if line.startswith("Pss:"):
                                pss += int(line.split()[1])
            tick += 1
            self.rss = max(self.rss, rss / 1024)
            self.pss = max(self.pss, pss / 1024)


def _tree(root: int) -> list[int]:
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{pid}/task").iterdir():
                with contextlib.suppress(OSError):
                    todo += [int(c) for c in (task / "children").read_text().split()]
    return out


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def _disk_activity() -> tuple[int, ...]:
    """Writes and discards completed, and I/Os in flight, summed over whole disks."""
    total = [0, 0, 0]
    for line in Path("/proc/diskstats").read_text().splitlines():
        f = line.split()
        if len(f) >= 15 and not f[2][-1].isdigit():  # vda, not vda1
            total[0] += int(f[7])
            total[1] += int(f[8 + 6]) if len(f) > 14 else 0
            total[2] += int(f[11])
    return tuple(total)


def settle(limit: float = 180.0) -> float:
    """Wait until the disk is idle (no write or discard for 3 s in a row): deleting
    the previous run's data dir (gigabytes of mail) leaves discards and writeback that
    would otherwise be timed as part of the next run. Returns the seconds waited."""
    os.sync()
    start = time.monotonic()
    last, quiet = _disk_activity(), 0
    while quiet < 3 and time.monotonic() - start < limit:
        time.sleep(1)
        now = _disk_activity()
        quiet = quiet + 1 if now[:2] == last[:2] and now[2] == 0 else 0
        last = now
    return time.monotonic() - start


def timed_run(cfg: Path, data: Path, day: date, stats: Path) -> dict[str, Any]:
    waited = settle()  # the copy of the data dir settles before the clock starts
    if waited > 5:
        print(f"  (waited {waited:.0f}s for the disk to settle)")
    before = {k: _size(data / k) for k in ("outbox", "feeds", "digest.db")}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [
            *DIGEST,
            "run",
            "--no-collect",
            "--date",
            str(day),
            "--stats",
            str(stats),
            "--config",
            str(cfg),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    sampler = Sampler(proc.pid)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    sampler.stop.set()
    sampler.join()
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"digest run failed ({proc.returncode}):\n{err}")
    figures = json.loads(stats.read_text())
    after = {k: _size(data / (k if k != "digest.db" else "digest.db")) for k in before}
    wal = _size(data / "digest.db-wal")
    figures.update(
        wall_s=wall,
        peak_pss_mb=sampler.pss,
        peak_rss_mb=sampler.rss,
        written_mb={k: (after[k] - before[k]) / 2**20 for k in before} | {"wal": wal / 2**20},
        output=out.strip().splitlines()[-1] if out.strip() else "",
    )
    return figures


# the naive way --------------------------------------------------------------------------


def naive(data: Path, cfg: Path, sample: int) -> float:
    """ms per digest: picks from the product's own scoring, then each email rendered
    whole by Jinja from the shipped templates, premailer on each, the email package."""
    sys.path.insert(0, str(ROOT))
    from jinja2 import Environment, FileSystemLoader, select_autoescape
    from premailer import Premailer

    from digest.day.picks import Picker
    from digest.day.plan import current_model
    from digest.day.shard import link_maker, open_store
    from digest.links import feedback_url
    from digest.resources import shipped
    from digest.settings import load_settings
    from digest.templating import cut_abstract, rfc822, short_authors

    settings = load_settings(cfg)
    store = open_store(settings)
    version = current_model(store)
    assert version is not None
    latest = store.latest_batch_id()
    assert latest is not None
    sids = [s.id for s in store.subscribers(status="active")[:sample]]
    picked = Picker(store).for_readers(version, [(s, s, latest - 1, latest) for s in sids])
    links = link_maker(settings)
    env = Environment(
        loader=FileSystemLoader(str(shipped("templates"))),
        autoescape=select_autoescape(["html", "xml"]),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["rfc822"] = rfc822
    t = time.perf_counter()
    for sid in sids:
        mine = links.links(sid, sid)
        sections = []
        html_picks: list[str] = []
        text_picks: list[str] = []
        for section in picked[sid]:
            for n, sp in enumerate(section.papers, 1):
                values = dict(
                    paper=sp.paper,
                    abstract=cut_abstract(sp.paper.abstract),
                    authors=short_authors(sp.paper.authors),
                    index=n,
                    profile=sp.profile,
                    why=sp.why,
                    score=f"{sp.score:.2f}",
                    up=feedback_url(mine.feedback, "up", sp.profile, sp.paper.id),
                    down=feedback_url(mine.feedback, "down", sp.profile, sp.paper.id),
                )
                whole = env.get_template("email/_pick.html").render(values)
                html_picks.append(whole[whole.index("<body>") + 6 : whole.rindex("</body>")])
                text_picks.append(env.get_template("email/_pick.txt").render(values))
            sections.append({"profile": section.profile, "count": len(section.papers)})
        context = {
            "subject": "new papers",
            "day_long": f"{DAY:%A %d %B %Y}",
            "count": len(html_picks),
            "profile_names": "main",
            "email": f"reader{sid}@example.org",
            "links": mine,
            "site": settings.web.base_url,
        }
        html = env.get_template("email/digest_email.html").render(
            context, sections=[{**s, "picks": "".join(html_picks)} for s in sections]
        )
        text = env.get_template("email/digest_email.txt").render(
            context, sections=[{**s, "picks": "".join(text_picks)} for s in sections]
        )
        html = Premailer(
            html,
            disable_validation=True,
            cssutils_logging_level=logging.CRITICAL,
            allow_network=False,
            remove_classes=False,
        ).transform(pretty_print=False)
        msg = EmailMessage()
        msg["From"] = "digest <digest@example.org>"
        msg["To"] = context["email"]
        msg["Subject"] = context["subject"]
        msg["List-Unsubscribe"] = f"<{mine.unsubscribe}>"
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
        msg.as_bytes()
    store.close()
    return (time.perf_counter() - t) / len(sids) * 1000


# the SMTP sink ----------------------------------------------------------------------------

SINK = """
import asyncio, sys
from aiosmtpd.controller import Controller
class Count:
    n = 0
    async def handle_DATA(self, server, session, envelope):
        Count.n += 1
        return "250 OK"
c = Controller(Count(), hostname="127.0.0.1", port=int(sys.argv[1]))
c.start()
print("ready", flush=True)
sys.stdin.read()
c.stop()
print(Count.n, flush=True)
"""


def sink(port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SINK, str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def stop_sink(proc: subprocess.Popen[str]) -> int:
    out, _ = proc.communicate("")
    return int(out.strip().splitlines()[-1])


def sink_capacity(port: int, n: int, body: bytes) -> float:
    proc = sink(port)
    t = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as client:
        for i in range(n):
            client.sendmail("digest@example.org", [f"r{i}@example.org"], body)
    rate = n / (time.perf_counter() - t)
    assert stop_sink(proc) == n
    return rate


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# main ---------------------------------------------------------------------------------------


def picks_per_digest(cfg: Path, day: date) -> str:
    """How many papers the day's digests held: a cut-off makes a quiet day short."""
    from digest.settings import load_settings
    from digest.store import Store

    store = Store.open(load_settings(cfg).db_url)
    rows = store.deliveries(day=day)
    counts = [len(v) for v in store.items(r.id for r in rows).values()]
    store.close()
    full = sum(c == max(counts, default=0) for c in counts)
    return (
        f"papers per digest: mean {sum(counts) / max(len(counts), 1):.1f}, "
        f"{full:,} at the maximum, {counts.count(0):,} with none"
    )


def day_for(
    state: Path,
    rows: list[dict[str, Any]],
    n: int,
    *,
    smtp: bool,
    naive_n: int,
    cutoff: str | None = None,
) -> None:
    folder = state / (f"{n}-{cutoff}" if cutoff else f"{n}")
    if not (folder / "setup.json").exists():
        shutil.rmtree(folder, ignore_errors=True)
        setup(folder, rows, n, cutoff)
    figures = json.loads((folder / "setup.json").read_text())
    data = folder / "data"
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(folder / "data.clean", data)
    port = _free_port() if smtp else None
    cfg = config(folder, smtp_port=port)
    print(f"\n## {n:,} readers, {'SMTP to a loopback sink' if smtp else 'Maildir outbox'}")
    print(
        f"setup: history collected in {figures['collect_history_s']:.0f}s (model fitted); "
        f"`digest profile import` {n:,} readers in {figures['import_s']:.1f}s "
        f"({n / figures['import_s']:,.0f} readers/s, process start included)"
    )
    proc = sink(port) if port else None
    try:
        first = timed_run(cfg, data, DAY, folder / "stats1.json")
    finally:
        received = stop_sink(proc) if proc else None
    report("day 1", n, first)
    print(f"  {picks_per_digest(cfg, DAY)}")
    if received is not None:
        print(f"  the sink received {received:,} messages")
    if smtp:
        return
    digest(cfg, "collect", str(folder / "nextday.jsonl"))
    second = timed_run(cfg, data, DAY + timedelta(days=1), folder / "stats2.json")
    report("day 2 (new batch)", n, second)
    print(f"  {picks_per_digest(cfg, DAY + timedelta(days=1))}")
    print(f"  day 2 refitted: {second['refitted']}, profile vectors rebuilt: {second['rebuilt']}")
    if naive_n:
        ms = naive(data, cfg, naive_n)
        ours = first["wall_s"] / n * first["workers"] * 1000
        print(
            f"naive way on {naive_n} readers: {ms:.1f} ms a digest, {ms * n / 1000 / first['workers']:,.0f}s "
            f"for {n:,} on {first['workers']} workers; `digest run`: {ours:.2f} ms a digest "
            f"(wall x workers / readers): {ms / ours:.0f}x"
        )


def report(label: str, n: int, f: dict[str, Any]) -> None:
    s, w = f["seconds"], f["worker_seconds"]
    written = ", ".join(f"{k} {v:,.0f} MB" for k, v in f["written_mb"].items())
    print(
        f"{label}: wall {f['wall_s']:.1f}s · {n / f['wall_s']:,.0f} digests/s · "
        f"peak PSS {f['peak_pss_mb']:,.0f} MB (RSS {f['peak_rss_mb']:,.0f} MB) · "
        f"sent {f['sent']:,}, empty {f['empty']:,}, failed {f['failed']}, deferred {f['deferred']}"
    )
    print(
        f"  plan {s.get('plan', 0):.1f}s, shards {s.get('write', 0):.1f}s on {f['workers']} "
        f"workers ({f['shards']} shards); worker time: "
        + ", ".join(f"{k} {v:.1f}s" for k, v in sorted(w.items()))
    )
    print(f"  disk written: {written}")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--readers", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    ap.add_argument("--smtp", type=int, nargs="*", default=[10_000])
    ap.add_argument("--naive", type=int, default=100)
    ap.add_argument("--state", type=Path, default=ROOT / "benchmarks" / "output" / "day")
    ap.add_argument(
        "--cutoff",
        choices=["strong", "good", "any"],
        help="every reader's relevance cut-off (default: the profile's, good); "
        "any fills each digest to max_papers, as before cut-offs",
    )
    args = ap.parse_args()
    rows = corpus_lines(args.corpus)
    print(f"`digest run` on {os.cpu_count()} cores; batch 1,000 real papers, 20,000 stored")
    if args.smtp:
        port = _free_port()
        body = b"Subject: x\r\n\r\n" + (b"y" * 78 + b"\r\n") * 750
        print(
            f"loopback SMTP sink alone (one smtplib client, 60 KB messages): "
            f"{sink_capacity(port, 2000, body):,.0f} messages/s"
        )
    for n in args.readers:
        day_for(args.state, rows, n, smtp=False, naive_n=args.naive, cutoff=args.cutoff)
    for n in args.smtp:
        day_for(args.state, rows, n, smtp=True, naive_n=0, cutoff=args.cutoff)


if __name__ == "__main__":
    main()
