"""Bad input at scale: many seeded mutations of the real fixtures through every parser
and the profile loader, a 50 MB line in each format, and the bombs at full size.

    python benchmarks/bench_bad_input.py [--cases 500] [--seed 1]

Each case runs in this process; a case counts as a crash if anything but a
ParseResult (or, for profiles, a ProfileFileError) comes out, and as a hang if it
takes over 10 s. Peak memory is the process's maximum resident set size.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest.models import ParseResult  # noqa: E402
from digest.profiles import ProfileFileError, load_profile_file, load_subscribers  # noqa: E402
from digest.sources.formats import parse  # noqa: E402
from tests.test_bad_input import (  # noqa: E402
    BOMB,
    EXAMPLE,
    ORIGINALS,
    PARAMETER,
    STRAY,
    SUBSCRIBER_LINE,
    XXE,
    well_formed,
)


def mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(["flip", "truncate", "insert", "repeat"])
        at = rng.randrange(max(len(out), 1))
        if kind == "flip" and out:
            out[at] ^= 1 << rng.randrange(8)
        elif kind == "truncate":
            del out[at:]
        elif kind == "insert":
            out[at:at] = rng.choice(STRAY)
        else:
            size = rng.randint(1, 200)
            out[at:at] = bytes(out[at : at + size]) * rng.randint(2, 50)
    return bytes(out)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(call: object) -> tuple[float, str | None]:
    started = time.perf_counter()
    try:
        call()  # type: ignore[operator]
        problem = None
    except Exception as exc:  # a crash is what this counts
        problem = f"{type(exc).__name__}: {exc}"[:200]
    return time.perf_counter() - started, problem


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cases", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    print("probe                         cases  crashes  hangs  slowest  errors-returned")
    for fmt, originals in sorted(ORIGINALS.items()):
        crashes = hangs = errors = 0
        slowest = 0.0
        for _ in range(args.cases):
            data = mutate(rng, rng.choice(originals))

            chosen = rng.choice([fmt, None])

            def one(data: bytes = data, chosen: str | None = chosen) -> None:
                result = parse(data, source="mutant", format=chosen)
                assert isinstance(result, ParseResult)
                well_formed(result)
                nonlocal errors
                errors += result.error is not None

            seconds, problem = timed(one)
            slowest = max(slowest, seconds)
            hangs += seconds > 10
            if problem:
                crashes += 1
                print("   crash:", problem)
        print(
            f"mutations: {fmt:18s} {args.cases:6d}  {crashes:7d}  {hangs:5d}  {slowest:6.2f}s  {errors}"
        )

    with tempfile.TemporaryDirectory() as tmp:
        for name, original, suffix in (
            ("toml", EXAMPLE, ".toml"),
            ("jsonl", SUBSCRIBER_LINE, ".jsonl"),
        ):
            path = Path(tmp) / f"mutant{suffix}"
            crashes = hangs = refused = 0
            slowest = 0.0
            for _ in range(args.cases):
                path.write_bytes(mutate(rng, original))

                def one(path: Path = path) -> None:
                    nonlocal refused
                    for load in (load_subscribers, load_profile_file):
                        try:
                            load(path)
                        except ProfileFileError as exc:
                            assert str(exc).startswith(str(path))
                            refused += 1

                seconds, problem = timed(one)
                slowest = max(slowest, seconds)
                hangs += seconds > 10
                if problem:
                    crashes += 1
                    print("   crash:", problem)
            print(
                f"mutations: profile {name:10s} {args.cases:6d}  {crashes:7d}  {hangs:5d}  {slowest:6.2f}s  {refused}"
            )

    big = "word " * 10_000_000  # 50 MB
    lines = {
        "jsonl": json.dumps({"id": "2401.00001", "title": "T", "summary": big}).encode(),
        "hf-page": f"Daily Papers\nT\n{big}\n".encode(),
        "hf-api": json.dumps(
            [{"paper": {"id": "2401.00001", "title": "T", "summary": big}}]
        ).encode(),
        "feed": f'<rss version="2.0"><channel><item><title>T</title><description>{big}</description><link>https://example.org/1</link></item></channel></rss>'.encode(),
    }
    del big
    for fmt, data in lines.items():
        before = peak_mib()
        results: list[ParseResult] = []

        def read(data: bytes = data, fmt: str = fmt, into: list[ParseResult] = results) -> None:
            into.append(parse(data, source="big", format=fmt))

        seconds, problem = timed(read)
        ok = not problem and results and results[0].error is None and len(results[0].papers) == 1
        print(
            f"50 MB line: {fmt:8s} {seconds:6.2f}s  {'read' if ok else problem or results[0].error}  "
            f"peak RSS {peak_mib():.0f} MiB (was {before:.0f})"
        )
    lines.clear()

    for name, doc in (
        ("entity bomb", BOMB),
        ("external entity", XXE),
        ("parameter entity", PARAMETER),
    ):
        result = parse(doc.encode(), source=name)
        print(f"{name:16s}: {result.error!r} ({len(result.papers)} papers)")
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\n" * 2**20
    bomb = b"".join(packer.compress(chunk) for _ in range(1024)) + packer.flush()
    before = peak_mib()
    seconds, _ = timed(
        lambda: print(
            f"gzip bomb ({len(bomb) / 2**20:.1f} MiB -> 1 GiB): {parse(bomb, source='bomb.jsonl.gz').error!r}"
        )
    )
    print(f"   in {seconds:.1f}s, peak RSS {peak_mib():.0f} MiB (was {before:.0f})")


if __name__ == "__main__":
    main()
