"""`digest collect` killed with SIGKILL at a known point: after one source's papers
were committed, while it waits on the next (a named pipe nobody writes to)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import FIXTURES

DIGEST = str(Path(sys.executable).with_name("digest"))
BATCH = FIXTURES / "batches" / "2026-06-29.jsonl"
PAPERS = 166  # 230 lines; cross-listed papers repeat under one id


def stored(db: Path) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Papers, distinct ids, and each batch's (id, recorded size, papers it holds)."""
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        count, distinct = conn.execute("SELECT count(*), count(DISTINCT id) FROM papers").fetchone()
        batches = conn.execute(
            "SELECT b.id, b.size, (SELECT count(*) FROM papers p WHERE p.batch_id = b.id) "
            "FROM batches b ORDER BY b.id"
        ).fetchall()
    return count, distinct, batches


def papers_now(db: Path) -> int:
    """Papers committed so far (none while the schema is still being made)."""
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute("SELECT count(*) FROM papers").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def test_a_collect_killed_between_sources_leaves_whole_sources_and_the_rerun_closes_its_batch(
    tmp_path: Path,
) -> None:
    cfg = tmp_path / "digest.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "data"}"\nsecret_key = "{"k" * 40}"\n')
    subprocess.run([DIGEST, "init", "--config", str(cfg)], check=True, capture_output=True)
    db = tmp_path / "data" / "digest.db"
    pipe = tmp_path / "stalled.jsonl"
    os.mkfifo(pipe)
    first = subprocess.Popen(
        [DIGEST, "collect", str(BATCH), str(pipe), "--config", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not (db.exists() and papers_now(db) == PAPERS):
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    count, _, batches = stored(db)
    assert count == PAPERS
    assert batches == [(1, 0, PAPERS)]  # stored whole, never closed

    again = subprocess.run(
        [DIGEST, "collect", str(BATCH), "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    count, distinct, batches = stored(db)
    assert count == distinct == PAPERS
    assert batches == [(1, PAPERS, PAPERS), (2, 0, 0)]
