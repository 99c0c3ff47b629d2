"""Render and build every digest of a large audience, written to a null sink.

    python benchmarks/bench_render.py [--corpus PATH] [--subscribers 100000] [--workers 2]

N subscribers (one profile each: 5-20 real seed papers and a few keywords) against the
corpus's last 1,000 papers, 20 picks each. Timed: the scoring pass, then for every
subscriber the why lines, links, HTML + text email, RSS item list and the MIME message
serialised to bytes (the null sink), spread over ``--workers`` processes. Per-stage
figures come from a single-process sample. The naive way (render each whole email from
the un-inlined template, then premailer it) is timed on a sample and extrapolated.
Fitting the text model and building the profiles happen when profiles change, so they
are reported apart.
"""

from __future__ import annotations

import argparse
import gzip
import logging
import multiprocessing as mp
import random
import resource
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from premailer import Premailer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scoring_speed import CORPUS, make_profiles

from digest.deliver import build_message
from digest.links import LinkMaker
from digest.models import Digest, DigestSection
from digest.rank import profile_vectors
from digest.render import FeedEntry, Renderer, cut_abstract, short_authors
from digest.resources import shipped
from digest.score import ProfileSet, Ranking, rank_batch
from digest.settings import Settings, load_settings
from digest.sources.formats import parse
from digest.textmodel import TextModel
from digest.tokens import Tokens

DAY = date(2026, 7, 1)
NOW = datetime(2026, 7, 1, 6, 0, tzinfo=UTC)
STATE: dict[str, object] = {}


def one(i: int, stages: dict[str, float] | None = None) -> int:
    ranking: Ranking = STATE["ranking"]  # type: ignore[assignment]
    renderer: Renderer = STATE["renderer"]  # type: ignore[assignment]
    links_of: LinkMaker = STATE["links"]  # type: ignore[assignment]
    settings: Settings = STATE["settings"]  # type: ignore[assignment]
    clock = time.perf_counter
    t0 = clock()
    picks = ranking.picks(i)
    t1 = clock()
    links = links_of.links(i + 1, i + 1)
    digest = Digest(
        f"reader{i}@example.org", DAY, (DigestSection(picks[0].profile, tuple(picks)),), links
    )
    t2 = clock()
    email = renderer.email(digest)
    t3 = clock()
    items = [renderer._item_html(FeedEntry(sp, DAY, links.feedback)) for sp in picks]
    t4 = clock()
    message = build_message(
        settings.mail,
        to=digest.email,
        subject=email.subject,
        text=email.text,
        html=email.html,
        unsubscribe=links.unsubscribe,
        archive=links.archive,
        message_id=f"<digest.{DAY}.{i}@example.org>",
        date=NOW,
    )
    t5 = clock()
    size = len(message.as_bytes()) + sum(map(len, items))
    t6 = clock()
    if stages is not None:
        for name, value in (
            ("why lines", t1 - t0),
            ("links", t2 - t1),
            ("email html+text", t3 - t2),
            ("rss items", t4 - t3),
            ("mime build", t5 - t4),
            ("serialise", t6 - t5),
        ):
            stages[name] = stages.get(name, 0.0) + value
    return size


def work(bounds: tuple[int, int]) -> tuple[int, int]:
    start, stop = bounds
    return sum(one(i) for i in range(start, stop)), stop - start


def naive(settings: Settings, n: int) -> float:
    """Render the whole email from the template as written (CSS in <style>), then
    premailer the result: what inlining per message costs."""
    env = Environment(
        loader=FileSystemLoader(str(shipped("templates"))),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(cut=cut_abstract, short_authors=short_authors)
    html_t = env.get_template("email/digest_email.html")
    card_t = env.get_template("email/_paper_card.html")
    renderer: Renderer = STATE["renderer"]  # type: ignore[assignment]
    ranking: Ranking = STATE["ranking"]  # type: ignore[assignment]
    links_of: LinkMaker = STATE["links"]  # type: ignore[assignment]
    t = time.perf_counter()
    for i in range(n):
        picks = ranking.picks(i)
        links = links_of.links(i + 1, i + 1)
        digest = Digest(
            f"reader{i}@example.org", DAY, (DigestSection(picks[0].profile, tuple(picks)),), links
        )
        context = renderer._context(digest)
        context["cards"] = {
            sp.paper.id: card_t.render(
                paper=sp.paper,
                abstract=cut_abstract(sp.paper.abstract),
                authors=short_authors(sp.paper.authors),
            )
            for sp in picks
        }
        html = html_t.render(context)
        Premailer(
            html,
            disable_validation=True,
            cssutils_logging_level=logging.CRITICAL,
            allow_network=False,
        ).transform()
    return (time.perf_counter() - t) / n


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--subscribers", type=int, default=100_000)
    ap.add_argument("--papers", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    t = time.perf_counter()
    papers = parse(
        gzip.decompress(args.corpus.read_bytes()), source="corpus", format="jsonl"
    ).papers
    papers.sort(key=lambda p: (p.published or p.id, p.id))
    batch, history = papers[-args.papers :], papers[: -args.papers]
    model = TextModel.fit(history[-40_000:])
    pool = history[-20_000:]
    profiles = [
        p.model_copy(update={"max_papers": 20})
        for p in make_profiles(pool, args.subscribers, random.Random(7))
    ]
    vectors, seeds = profile_vectors(profiles, model, {p.id: p for p in pool})
    profile_set = ProfileSet.build(vectors)
    embedded = model.embed(batch)
    del papers, history
    setup = time.perf_counter() - t

    settings = load_settings(
        secret_key="bench-secret-" + "x" * 20, mail={"from_address": "digest@example.org"}
    )
    t = time.perf_counter()
    ranking = rank_batch(profile_set, batch, embedded, seeds=seeds)
    score = time.perf_counter() - t
    STATE.update(
        ranking=ranking,
        renderer=Renderer(settings),
        settings=settings,
        links=LinkMaker("https://digest.example.org", Tokens("bench-secret-" + "x" * 20)),
    )

    stages: dict[str, float] = {}
    sample = min(2000, args.subscribers)
    t = time.perf_counter()
    for i in range(sample):
        one(i, stages)
    sample_s = time.perf_counter() - t

    n = args.subscribers
    step = -(-n // (args.workers * 8))
    chunks = [(s, min(s + step, n)) for s in range(0, n, step)]
    t = time.perf_counter()
    with mp.get_context("fork").Pool(args.workers) as workers:
        done = workers.map(work, chunks)
    write = time.perf_counter() - t
    total_bytes = sum(b for b, _ in done)
    peak_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    naive_n = 50
    per_naive = naive(settings, naive_n)

    print(
        f"subscribers {n:,} x batch {args.papers:,} papers, 20 picks each, {args.workers} worker processes"
    )
    print(f"setup (not timed): corpus, model fit, {n:,} profiles built: {setup:.1f}s")
    print(f"scoring pass:                       {score:6.2f}s")
    print(
        f"render + build + serialise, all:    {write:6.2f}s  ({n / write:,.0f} digests/s, {total_bytes / n / 1024:.1f} KB each)"
    )
    print(f"total (score + write):              {score + write:6.2f}s")
    print(
        f"peak RSS: parent {peak_self:.0f} MB (includes setup), largest worker {peak_children:.0f} MB"
    )
    print(
        f"per-stage, single process, {sample:,} digests ({sample_s / sample * 1000:.2f} ms each):"
    )
    for name, value in stages.items():
        print(f"  {name:<18} {value / sample * 1000:7.3f} ms")
    print(
        f"naive (whole email rendered, then premailer), {naive_n} digests: {per_naive * 1000:.1f} ms each "
        f"→ {per_naive * n / args.workers:,.0f}s for {n:,} on {args.workers} workers"
    )


if __name__ == "__main__":
    main()
