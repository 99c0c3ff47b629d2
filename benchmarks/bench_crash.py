"""Crash trials: `digest run` killed with SIGKILL at random moments, then rerun.

    python benchmarks/bench_crash.py [--trials 20] [--readers 100] [--seed 1]

Each trial makes a fresh data dir (the fixture batch, its model, N readers), starts
`digest run` (2 workers, shards of 10, SMTP to a loopback aiosmtpd server that records
every message and takes 20 ms over each, like a relay across a network), kills it
with SIGKILL after a seeded random delay, and reruns it until a run finishes. It reports, per trial, how many readers got no message and how
many got more than one, whether a rerun had to wait for a claim's lease (a rerun
after a crash should take a dead process's claims at once), and how many runs it took.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.smtp_server import serve  # noqa: E402
from tests.test_shards import DAY, DIGEST, config_file, make_day  # noqa: E402


def trial(n: int, delay: float, folder: Path, *, calibrate: bool = False) -> dict[str, object]:
    server_gen = serve(eight_bit=True)
    server = next(server_gen)
    # a relay some 20 ms away, so that sending takes most of the run, as it does
    server.on_data = lambda _peer: time.sleep(0.02)  # type: ignore[func-returns-value]
    try:
        settings = make_day(folder, n)
        cfg = config_file(settings, server, shard_size=10, workers=2)
        args = [DIGEST, "run", "--no-collect", "--date", str(DAY), "--config", str(cfg)]
        if calibrate:
            started = time.perf_counter()
            subprocess.run(args, capture_output=True, timeout=300)
            return {"rerun_s": time.perf_counter() - started}
        first = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        killed = first.poll() is None
        if killed:
            os.kill(first.pid, signal.SIGKILL)
        first.wait()
        at_kill = len(server.messages)
        runs = 1
        started = time.perf_counter()
        while len({str(m["To"]) for m in server.messages}) < n and runs < 6:
            subprocess.run(args, capture_output=True, timeout=300)
            runs += 1
        rerun_s = time.perf_counter() - started
        counts = Counter(str(m["To"]) for m in server.messages)
        return {
            "delay": delay,
            "killed": killed,
            "sent_before_kill": at_kill,
            "missing": n - len(counts),
            "duplicates": sum(1 for c in counts.values() if c > 1),
            "runs": runs,
            "rerun_s": rerun_s,
        }
    finally:
        server_gen.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--readers", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    os.environ.pop("DIGEST_CONFIG", None)
    with tempfile.TemporaryDirectory() as tmp:
        whole = trial(args.readers, 600.0, Path(tmp), calibrate=True)
    length = float(whole["rerun_s"])
    print(f"an uninterrupted run takes {length:.1f}s; kills land between 30% and 95% of it")
    rows = []
    print(f"{args.trials} trials, {args.readers} readers each, SIGKILL after a random delay")
    print("trial  delay  killed  sent-before  missing  duplicates  runs  rerun")
    for t in range(args.trials):
        delay = rng.uniform(0.3 * length, 0.95 * length)
        with tempfile.TemporaryDirectory() as tmp:
            r = trial(args.readers, delay, Path(tmp))
        rows.append(r)
        print(
            f"{t + 1:5d}  {delay:4.1f}s  {'yes' if r['killed'] else 'no ':>6}  "
            f"{r['sent_before_kill']:11d}  {r['missing']:7d}  {r['duplicates']:10d}  "
            f"{r['runs']:4d}  {r['rerun_s']:4.1f}s"
        )
    killed = [r for r in rows if r["killed"]]
    print(
        f"killed mid-run: {len(killed)} of {len(rows)}; readers with no message: "
        f"{sum(r['missing'] for r in rows)}; with more than one: "
        f"{sum(r['duplicates'] for r in rows)}; reruns that needed a second rerun "
        f"(a claim left to its lease): {sum(1 for r in rows if r['runs'] > 2)}"
    )


if __name__ == "__main__":
    main()
