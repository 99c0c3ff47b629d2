"""The scheduler's wiring and its jobs, run for real against a data dir."""

from __future__ import annotations

from pathlib import Path

import pytest
import time_machine
from apscheduler.schedulers.blocking import BlockingScheduler
from click.testing import CliRunner

from digest import schedule
from digest.cli import main
from tests.conftest import FIXTURES, NOW

SECRET = "test-secret-" + "x" * 20


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
