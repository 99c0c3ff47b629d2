"""The day for a large audience: score, render and build every digest, to a null sink.

    python benchmarks/bench_render.py [--corpus PATH] [--subscribers 100000]
                                      [--papers 1000] [--workers 2] [--naive 100]

Setup, not timed (it happens when profiles or the corpus change, not daily): parse the
corpus, fit the text model on the 40,000 papers before the batch, build N profiles
(5-20 real seed papers and 2-3 title words each, 20 picks) and embed the batch (the
corpus's last 1,000 papers). The day then runs in a fresh process that holds only
what the daily job holds, timed from its start to its end:

  1. score    every profile against the batch, one vectorised pass;
  2. prepare  each paper's picks rendered and CSS-inlined once (email HTML and text,
              feed item), in a thread while 1 runs (numpy lets go of the GIL);
  3. write    in --workers forked processes, for every subscriber: the why lines, the
              signed links, the HTML + text email, the RSS item list, and the MIME
              message as wire bytes (CRLF), which are counted and dropped.

Peak memory is sampled across the day's process and its workers, as resident (RSS,
every 250 ms) and proportional (PSS, every 2 s) set sizes: forked workers share the parent's
pages, and PSS counts each shared page once in all. Per-stage figures come from one
process on a sample of 2,000 digests. The naive way (each email rendered whole by
Jinja from the un-inlined templates, premailer on each, then the email package
building and serialising the message) is timed on --naive digests in the same run
and extrapolated to N on the same workers.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import gzip
import json
import logging
import multiprocessing as mp
import os
import pickle
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from premailer import Premailer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scoring_speed import CORPUS, make_profiles

from digest.links import LinkMaker
from digest.mime import Letterhead
from digest.models import Digest, DigestSection
from digest.rank import profile_vectors
from digest.render import Renderer
from digest.resources import shipped
from digest.score import ProfileSet, Ranking, rank_batch
from digest.settings import Settings, load_settings
from digest.sources.formats import parse
from digest.templating import cut_abstract, rfc822, short_authors
from digest.textmodel import TextModel
from digest.tokens import Tokens

DAY = date(2026, 7, 1)
NOW = datetime(2026, 7, 1, 6, 0, tzinfo=UTC)
SECRET = "bench-secret-" + "x" * 20
STATE: dict[str, Any] = {}


# setup (not timed) ----------------------------------------------------------------------


def setup(corpus: Path, subscribers: int, n_papers: int, out: Path) -> float:
    t = time.perf_counter()
    papers = parse(gzip.decompress(corpus.read_bytes()), source="corpus", format="jsonl").papers
    papers.sort(key=lambda p: (p.published or p.id, p.id))
    batch, history = papers[-n_papers:], papers[:-n_papers]
    model = TextModel.fit(history[-40_000:])
    pool = history[-20_000:]
    profiles = [
        p.model_copy(update={"max_papers": 20})
        for p in make_profiles(pool, subscribers, random.Random(7))
    ]
    vectors, seeds = profile_vectors(profiles, model, {p.id: p for p in pool})
    profile_set = ProfileSet.build(vectors)
    embedded = model.embed(batch)
    out.write_bytes(pickle.dumps((profile_set, seeds, batch, embedded), protocol=5))
    return time.perf_counter() - t


# one digest --------------------------------------------------------------------------


def settings() -> Settings:
    return load_settings(
        secret_key=SECRET,
        web={"base_url": "https://digest.example.org"},
        mail={"from_address": "digest@example.org"},
    )


def one(i: int, stages: dict[str, float] | None = None) -> int:
    """Subscriber ``i``'s digest, feed items and message; the bytes made."""
    ranking: Ranking = STATE["ranking"]
    renderer: Renderer = STATE["renderer"]
    clock = time.perf_counter
    t0 = clock()
    picks = ranking.picks(i)
    t1 = clock()
    links = STATE["links"].links(i + 1, i + 1)
    digest = Digest(
        f"reader{i}@example.org", DAY, (DigestSection(picks[0].profile, tuple(picks)),), links
    )
    t2 = clock()
    rendered = renderer.render(digest, items=True)
    t3 = clock()
    items = rendered.items or []
    t4 = clock()
    message = STATE["letterhead"].message(
        to=digest.email,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        unsubscribe=links.unsubscribe,
        archive=links.archive,
        message_id=f"<digest.{DAY}.{i}@example.org>",
    )
    t5 = clock()
    size = len(message.as_bytes()) + sum(map(len, items))
    t6 = clock()
    if stages is not None:
        for name, value in (
            ("why lines", t1 - t0),
            ("links + digest", t2 - t1),
            ("email html + text + rss items", t3 - t2),
            ("message headers", t5 - t4),
            ("message bytes", t6 - t5),
        ):
            stages[name] = stages.get(name, 0.0) + value
    return size


def work(bounds: tuple[int, int]) -> tuple[int, int]:
    start, stop = bounds
    return sum(one(i) for i in range(start, stop)), stop - start


# the naive way -----------------------------------------------------------------------


def naive_one(env: Environment, i: int) -> int:
    """Every template rendered whole by Jinja, premailer on the whole email, and the
    email package building and serialising the message."""
    ranking: Ranking = STATE["ranking"]
    picks = ranking.picks(i)
    links = STATE["links"].links(i + 1, i + 1)
    pick_t = env.get_template("email/_pick.html")
    html_picks = []
    text_picks = []
    for n, sp in enumerate(picks, 1):
        up = f"{links.feedback}/up/{sp.profile}/{sp.paper.id}"
        down = f"{links.feedback}/down/{sp.profile}/{sp.paper.id}"
        values = dict(
            paper=sp.paper,
            abstract=cut_abstract(sp.paper.abstract),
            authors=short_authors(sp.paper.authors),
            index=n,
            profile=sp.profile,
            why=sp.why,
            score=f"{sp.score:.2f}",
            up=up,
            down=down,
        )
        whole = pick_t.render(values)
        html_picks.append(whole[whole.index("<body>") + 6 : whole.rindex("</body>")])
        text_picks.append(env.get_template("email/_pick.txt").render(values))
    section = {"profile": picks[0].profile, "count": len(picks)}
    context = {
        "subject": f"{len(picks)} new papers for {picks[0].profile}",
        "day_long": f"{DAY:%A %d %B %Y}",
        "count": len(picks),
        "profile_names": picks[0].profile,
        "email": f"reader{i}@example.org",
        "links": links,
        "site": "https://digest.example.org",
    }
    html = env.get_template("email/digest_email.html").render(
        context, sections=[{**section, "picks": "".join(html_picks)}]
    )
    text = env.get_template("email/digest_email.txt").render(
        context, sections=[{**section, "picks": "".join(text_picks)}]
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
    msg["Message-ID"] = f"<digest.{DAY}.{i}@example.org>"
    msg["List-Unsubscribe"] = f"<{links.unsubscribe}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return len(msg.as_bytes())


def naive(n: int) -> float:
    env = Environment(
        loader=FileSystemLoader(str(shipped("templates"))),
        autoescape=select_autoescape(["html", "xml"]),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["rfc822"] = rfc822
    t = time.perf_counter()
    for i in range(n):
        naive_one(env, i)
    return (time.perf_counter() - t) / n


# memory ------------------------------------------------------------------------------


class Sampler(threading.Thread):
    """Peak RSS (from statm, every 250 ms) and PSS (from smaps_rollup, every 2 s: the
    kernel walks every mapping for it, which would take CPU from the workers), summed
    over this process and its children; and the CPU time the sampling took."""

    def __init__(self, every: float = 0.25, pss_every: int = 8) -> None:
        super().__init__(daemon=True)
        self.every = every
        self.pss_every = pss_every
        self.rss = 0.0
        self.pss = 0.0
        self.cpu = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        page_kb = os.sysconf("SC_PAGE_SIZE") / 1024
        tick = 0
        while not self.stop.wait(self.every):
            start = time.thread_time()
            pids = [os.getpid(), *_children(os.getpid())]
            rss = pss = 0.0
            for pid in pids:
                with contextlib.suppress(OSError):
                    rss += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page_kb
                    if tick % self.pss_every == 0:
                        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                            if line.startswith("Pss:"):
                                pss += int(line.split()[1])
            tick += 1
            self.rss = max(self.rss, rss / 1024)
            self.pss = max(self.pss, pss / 1024)
            self.cpu += time.thread_time() - start


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


# the day -----------------------------------------------------------------------------


def day(state: Path, workers: int, naive_n: int) -> dict[str, Any]:
    profile_set, seeds, batch, embedded = pickle.loads(state.read_bytes())
    n = len(profile_set)
    s = settings()
    sampler = Sampler()
    sampler.start()

    start = time.perf_counter()
    renderer = Renderer(s)
    # the picks are rendered while the scoring threads are in numpy, which lets go of
    # the GIL; the two do not depend on each other
    preparing = threading.Thread(target=renderer.prepare, args=(batch, DAY))
    preparing.start()
    ranking = rank_batch(profile_set, batch, embedded, seeds=seeds)
    del profile_set
    scored = time.perf_counter()
    preparing.join()
    STATE.update(
        ranking=ranking,
        renderer=renderer,
        links=LinkMaker(s.web.base_url, Tokens(SECRET)),
        letterhead=Letterhead(s.mail, date=NOW),
    )
    gc.freeze()  # keep the collector off the pages the workers share
    prepared = time.perf_counter()
    step = -(-n // (workers * 16))
    chunks = [(a, min(a + step, n)) for a in range(0, n, step)]
    with mp.get_context("fork").Pool(workers) as pool:
        done = pool.map(work, chunks, chunksize=1)
    end = time.perf_counter()
    sampler.stop.set()
    sampler.join()
    assert sampler.pss > 0, "the memory sampler did not run"
    made = sum(b for b, _ in done)
    assert sum(c for _, c in done) == n

    stages: dict[str, float] = {}
    sample = min(2000, n)
    t = time.perf_counter()
    for i in range(sample):
        one(i, stages)
    sample_s = time.perf_counter() - t

    first = renderer.render(
        Digest(
            "a@example.org",
            DAY,
            (DigestSection("p", tuple(ranking.picks(0))),),
            STATE["links"].links(1, 1),
        )
    )
    return {
        "subscribers": n,
        "papers": len(batch),
        "workers": workers,
        "score_s": scored - start,
        "prepare_s": prepared - scored,
        "write_s": end - prepared,
        "total_s": end - start,
        "bytes_per_digest": made / n,
        "picks_in_first": first.html.count(b'class="pick"'),
        "peak_rss_mb": sampler.rss,
        "peak_pss_mb": sampler.pss,
        "sampler_cpu_s": sampler.cpu,
        "sample": sample,
        "sample_ms": sample_s / sample * 1000,
        "stages_ms": {k: v / sample * 1000 for k, v in stages.items()},
        "naive_n": naive_n,
        "naive_ms": naive(naive_n) * 1000 if naive_n else 0.0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--subscribers", type=int, default=100_000)
    ap.add_argument("--papers", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--naive", type=int, default=100, help="digests to time the naive way on")
    ap.add_argument("--state", type=Path, help="reuse (or keep) the setup in this file")
    ap.add_argument("--day", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.day:
        print(json.dumps(day(args.day, args.workers, args.naive)))
        return

    state = args.state or Path(tempfile.mkdtemp()) / "state.pickle"
    setup_s = None
    if not state.exists():
        setup_s = setup(args.corpus, args.subscribers, args.papers, state)
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--day",
            str(state),
            "--workers",
            str(args.workers),
            "--naive",
            str(args.naive),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    r = json.loads(out.stdout.strip().splitlines()[-1])
    if args.state is None:
        state.unlink()
    n = r["subscribers"]
    setup_line = f"{setup_s:.0f}s" if setup_s is not None else f"reused {state}"
    print(
        f"subscribers {n:,} x batch {r['papers']:,} papers, 20 picks each, {r['workers']} worker processes, {os.cpu_count()} cores"
    )
    print(f"setup (not timed): corpus, model fit, profiles built, batch embedded: {setup_line}")
    print(f"1. score (one vectorised pass)           {r['score_s']:7.2f}s")
    print(
        f"2. prepare (each paper's picks, once, in a thread during 1): {r['prepare_s']:.2f}s more"
    )
    print(
        f"3. write (why, links, email, rss, MIME)   {r['write_s']:7.2f}s  ({n / r['write_s']:,.0f} digests/s, {r['bytes_per_digest'] / 1024:.1f} KB each)"
    )
    print(f"the day, wall                             {r['total_s']:7.2f}s")
    print(
        f"peak memory, day process + workers: PSS {r['peak_pss_mb']:,.0f} MB, RSS {r['peak_rss_mb']:,.0f} MB "
        f"(RSS counts shared pages in each process; sampling took {r['sampler_cpu_s']:.2f}s CPU)"
    )
    print(f"per-stage, one process, {r['sample']:,} digests ({r['sample_ms']:.3f} ms each):")
    for name, value in r["stages_ms"].items():
        print(f"  {name:<20} {value:7.3f} ms")
    if r["naive_n"]:
        naive_total = r["naive_ms"] / 1000 * n / r["workers"]
        print(
            f"naive (whole email by Jinja, premailer each, email package), {r['naive_n']} digests: "
            f"{r['naive_ms']:.1f} ms each -> {naive_total:,.0f}s for {n:,} on {r['workers']} workers "
            f"(ours: {r['sample_ms']:.2f} ms each, {r['naive_ms'] / r['sample_ms']:.0f}x)"
        )
    assert r["picks_in_first"] == 20, r["picks_in_first"]


if __name__ == "__main__":
    main()
