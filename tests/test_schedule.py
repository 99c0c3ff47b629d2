"""The scheduler's wiring and its jobs, run for real against a data dir."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import time_machine
from apscheduler.schedulers.blocking import BlockingScheduler
from click.testing import CliRunner

from digest import schedule
from digest.cli import main
from digest.settings import Settings
from digest.store import Store
from tests.conftest import FIXTURES, NOW

SECRET = "test-secret-" + "x" * 20
DIGEST = str(Path(sys.executable).with_name("digest"))


def _config(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    cfg = tmp_path / "elsewhere.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path / "data"}"\nsecret_key = "{SECRET}"\n'
        f'[[sources]]\nname = "batch"\nlocation = "{FIXTURES / "batches" / "2026-06-30.jsonl"}"\n'
    )
    return cfg


def test_schedule_hands_its_config_file_to_the_jobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _config(tmp_path)
    seen: list[tuple[object, ...]] = []

    def start(self: BlockingScheduler, *args: object, **kwargs: object) -> None:
        seen.extend(job.args for job in self.get_jobs())

    monkeypatch.setattr(BlockingScheduler, "start", start)
    result = CliRunner().invoke(main, ["schedule", "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert seen == [(str(cfg),), (str(cfg),)]


def test_the_scheduled_jobs_collect_and_deliver_with_that_config(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    reader = tmp_path / "ada.toml"
    reader.write_text(
        'email = "ada@example.org"\nsend_hour = 6\n'
        '[[profiles]]\nname = "models"\nkeywords = ["language model"]\n'
    )
    assert CliRunner().invoke(main, ["profile", "import", str(reader), "--config", str(cfg)])
    with time_machine.travel(NOW, tick=False):
        schedule.collect_job(str(cfg))
        schedule.deliver_job(str(cfg))
    outbox = list((tmp_path / "data" / "outbox" / "new").iterdir())
    assert len(outbox) == 1 and b"ada@example.org" in outbox[0].read_bytes()


def test_one_process_at_a_time_holds_the_scheduler_lock(store: Store, settings: Settings) -> None:
    other = Store.open(settings.db_url)
    mine, theirs = store.exclusive("scheduler"), other.exclusive("scheduler")
    assert mine.try_acquire() and mine.try_acquire()
    assert not theirs.try_acquire()
    assert other.exclusive("another lock").try_acquire()
    mine.release()
    assert theirs.try_acquire() and not mine.try_acquire()
    theirs.release()
    other.close()


def _line(proc: subprocess.Popen[str], timeout: float = 30) -> str:
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.append(proc.stdout.readline()))  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    assert found, "no line in time"
    return found[0].strip()


def test_a_second_scheduler_waits_and_takes_over_when_the_first_dies(
    tmp_path: Path, database_url: str | None
) -> None:
    cfg = _config(tmp_path)
    if database_url:
        cfg.write_text(f'database_url = "{database_url}"\n' + cfg.read_text())
    args = [DIGEST, "schedule", "--config", str(cfg)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    first = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env)
    second = None
    try:
        assert _line(first) == "scheduler running; Ctrl-C to stop"
        second = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env)
        assert _line(second).startswith("another scheduler is running")
        first.kill()
        first.wait()
        assert _line(second) == "scheduler running; Ctrl-C to stop"
    finally:
        for proc in (first, second):
            if proc is not None:
                proc.kill()
                proc.wait()
