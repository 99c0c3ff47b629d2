"""The sharded day across processes: the same messages on one process or many, a
worker killed mid-shard, and two runs at once, against real SQLite and SMTP."""

from __future__ import annotations

import email
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import date, timedelta
from email import policy
from pathlib import Path

import pytest
import time_machine

from digest.accounts import import_subscribers
from digest.day.plan import plan_day
from digest.day.run import run_day
from digest.day.shard import Worker, open_store
from digest.day.sources import collect_sources
from digest.profiles import SubscriberFile
from digest.settings import Settings, SourceSettings, load_settings
from digest.store import Item
from tests.conftest import FIXTURES, NOW, NewDatabase
from tests.fitted import install_model
from tests.smtp_server import SmtpServer

BATCH = FIXTURES / "batches" / "2026-06-30.jsonl"
DAY = date(2026, 11, 20)
SECRET = "test-secret-" + "x" * 20
WORDS = ["model", "learning", "graph", "robot", "language", "vision", "quantum", "network"]
DIGEST = str(Path(sys.executable).with_name("digest"))


def readers(n: int) -> list[SubscriberFile]:
    return [
        SubscriberFile.model_validate(
            {
                "email": f"reader{i}@example.org",
                "profiles": [
                    {"name": "main", "keywords": [WORDS[i % len(WORDS)]], "max_papers": 5}
                ],
            }
        )
        for i in range(n)
    ]


def make_day(folder: Path, n: int, database_url: str | None = None, **day: object) -> Settings:
    """A data dir (and database) with the fixture batch, its model, and ``n`` readers."""
    settings = load_settings(
        data_dir=folder / "data",
        database_url=database_url,
        secret_key=SECRET,
        web={"base_url": "https://digest.example.org"},
        mail={"from_address": "digest@example.org"},
        day=day,
    )
    store = open_store(settings)
    collect_sources(store, settings, [SourceSettings(name="batch", location=str(BATCH))], now=NOW)
    install_model(store, BATCH, now=NOW)
    import_subscribers(store, readers(n), now=NOW)
    store.close()
    return settings


def config_file(settings: Settings, smtp: SmtpServer, **day: int) -> Path:
    path = settings.data_dir.parent / "digest.toml"
    lines = [
        f'data_dir = "{settings.data_dir}"',
        f'secret_key = "{SECRET}"',
        *([f'database_url = "{settings.database_url}"'] if settings.database_url else []),
        "[web]",
        'base_url = "https://digest.example.org"',
        "[mail]",
        'mailer = "smtp"',
        'from_address = "digest@example.org"',
        "retries = 0",
        "[smtp]",
        f'host = "{smtp.host}"',
        f"port = {smtp.port}",
        'security = "plain"',
        "[day]",
        *(f"{k} = {v}" for k, v in day.items()),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def outbox(settings: Settings) -> dict[str, bytes]:
    """Each message in the Maildir outbox by recipient, with its MIME boundary (a
    per-process nonce) made neutral."""
    found = {}
    for path in (settings.data_dir / "outbox" / "new").iterdir():
        raw = path.read_bytes()
        boundary = re.search(rb'boundary="([^"]+)"', raw)
        assert boundary is not None
        raw = raw.replace(boundary.group(1), b"BOUNDARY")
        message = email.message_from_bytes(raw, policy=policy.default)
        found[str(message["To"])] = raw
    return found


def test_shards_on_a_pool_write_the_same_messages_as_one_process(
    tmp_path: Path, new_database: NewDatabase
) -> None:
    one = make_day(tmp_path / "one", 30, new_database())
    many = make_day(tmp_path / "many", 30, new_database(), shard_size=4)
    for settings, workers in ((one, 1), (many, 2)):
        store = open_store(settings)
        # manage links carry the time they were made: the same clock for both
        with time_machine.travel(NOW, tick=False):
            report = run_day(
                store, settings, now=NOW, day=DAY, collect_first=False, workers=workers
            )
        store.close()
        assert report.sent == 30 and report.ok
    assert report.workers == 2 and report.written.shards == 8
    single, pooled = outbox(one), outbox(many)
    assert len(single) == 30
    assert single == pooled
    for settings in (one, many):  # each worker staged its messages apart, and tidied up
        assert not list((settings.data_dir / "outbox" / "tmp").iterdir())
        assert not list((settings.data_dir / "outbox.tmp").iterdir())

    def recorded(settings: Settings) -> dict[str, list[Item]]:
        """What each reader's digest held, as the ledger keeps it (feeds are made of it)."""
        store = open_store(settings)
        rows = store.deliveries(day=DAY)
        items = store.items(r.id for r in rows)
        emails = {s.id: s.email for s in store.subscribers()}
        store.close()
        return {emails[r.subscriber_id]: items[r.id] for r in rows}

    assert len(recorded(one)) == 30 and all(recorded(one).values())
    assert recorded(one) == recorded(many)


def _pid_of_peer(port: int, among: list[int]) -> int | None:
    """The process (of ``among``) that owns the local TCP socket on ``port``."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port:
            inodes.add(fields[9])
    for pid in among:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return pid
        except OSError:
            continue
    return None


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_a_worker_killed_mid_shard_and_a_rerun_send_each_digest_once(
    tmp_path: Path, smtp_server: SmtpServer, database_url: str | None
) -> None:
    settings = make_day(tmp_path, 60, database_url)
    cfg = config_file(settings, smtp_server, shard_size=10, workers=2)
    killed: list[int] = []
    lock = threading.Lock()
    run: list[subprocess.Popen[str]] = []

    def kill_the_sender(peer: tuple[str, int]) -> str | None:
        with lock:
            if killed or len(smtp_server.messages) < 15 or not run:
                return None
            pid = _pid_of_peer(peer[1], _children(run[0].pid))
            if pid is None:  # not told apart yet under load: try at the next message
                return None
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        return "451 4.3.0 the sender is gone"  # nothing is taken from a dead client

    smtp_server.on_data = kill_the_sender
    args = [DIGEST, "run", "--no-collect", "--date", str(DAY), "--config", str(cfg)]
    run.append(subprocess.Popen(args, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    out, err = run[0].communicate(timeout=120)
    assert killed, f"no worker was killed:\n{out}\n{err}"
    assert "sent: " in out, err
    again = subprocess.run(args, text=True, capture_output=True, timeout=120)
    assert again.returncode == 0, again.stderr
    counts = Counter(str(m["To"]) for m in smtp_server.messages)
    assert len(counts) == 60
    assert set(counts.values()) == {1}
    ids = Counter(str(m["Message-ID"]) for m in smtp_server.messages)
    assert set(ids.values()) == {1}


def test_two_runs_at_once_send_nothing_twice(
    tmp_path: Path, smtp_server: SmtpServer, database_url: str | None
) -> None:
    settings = make_day(tmp_path, 40, database_url)
    cfg = config_file(settings, smtp_server, shard_size=5, workers=2)
    args = [DIGEST, "run", "--no-collect", "--date", str(DAY), "--config", str(cfg)]
    runs = [
        subprocess.Popen(args, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [r.communicate(timeout=120) for r in runs]
    for r, (_, err) in zip(runs, outputs, strict=True):
        assert r.returncode == 0, err
    counts = Counter(str(m["To"]) for m in smtp_server.messages)
    assert len(counts) == 40 and set(counts.values()) == {1}
    sent = [int(re.search(r"sent: (\d+)", out).group(1)) for out, _ in outputs]  # type: ignore[union-attr]
    assert sum(sent) == 40


def test_a_shard_slower_than_its_lease_keeps_its_rows(
    tmp_path: Path, smtp_server: SmtpServer, database_url: str | None
) -> None:
    base = make_day(tmp_path, 6, database_url)
    settings = base.model_copy(
        update={
            "mail": base.mail.model_copy(update={"mailer": "smtp", "retries": 0}),
            "smtp": base.smtp.model_copy(
                update={"host": smtp_server.host, "port": smtp_server.port, "security": "plain"}
            ),
            "day": base.day.model_copy(update={"claim_lease": 1}),
        }
    )

    store = open_store(settings)
    plan = plan_day(store, settings, now=NOW, day=DAY)
    (shard,) = plan.shards
    epoch = time.time()
    stolen: list[int] = []
    done = threading.Event()

    def another_host() -> None:
        while not done.is_set():
            now = NOW + timedelta(seconds=time.time() - epoch)
            taken = store.claim(
                shard.ids,
                owner="elsewhere:1:1",
                now=now,
                lease=timedelta(seconds=1),
                alive=lambda _: True,
            )
            stolen.extend(d.id for d in taken)
            time.sleep(0.1)

    thief = threading.Thread(target=another_host)

    def slowly(_peer: tuple[str, int]) -> None:
        if not thief.is_alive() and not done.is_set():
            thief.start()  # the shard has claimed its rows: try to take them
        time.sleep(0.4)  # six messages: more than two leases

    smtp_server.on_data = slowly  # type: ignore[assignment]
    try:
        with Worker(settings, now=NOW, epoch=epoch) as worker:
            report = worker.run(shard, plan.model)
    finally:
        done.set()
        if thief.is_alive():
            thief.join()
    store.close()
    assert report.sent == 6
    assert stolen == []
    assert len(smtp_server.messages) == 6
