"""The day on Celery workers over PostgreSQL: a real PostgreSQL server, a real
redis-server as the broker, `digest worker` processes and an SMTP server, all on
loopback. A worker killed mid-shard, and the same messages as the local pool."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine

from digest.day.cluster import run_shards
from digest.day.feeds import served_feed
from digest.day.plan import owner_alive, plan_day
from digest.day.run import run_day
from digest.day.shard import ShardReport, link_maker, open_store
from digest.render import Renderer
from digest.settings import Settings, load_settings
from tests.conftest import NOW
from tests.postgres import PostgresServer
from tests.smtp_server import SmtpServer
from tests.test_shards import DAY, DIGEST, SECRET, _children, _pid_of_peer, make_day, outbox

pytest_plugins = ["tests.redis_server"]


def cluster_config(
    settings: Settings,
    redis_url: str,
    *,
    smtp: SmtpServer | None = None,
    visibility_timeout: int = 3600,
    engine: bool = True,
    **day: object,
) -> Path:
    """The settings file every process of the cluster reads."""
    path = settings.data_dir.parent / "digest.toml"
    lines = [
        f'data_dir = "{settings.data_dir}"',
        f'database_url = "{settings.database_url}"',
        f'secret_key = "{SECRET}"',
        'feed_storage = "database"',
        "[web]",
        'base_url = "https://digest.example.org"',
        "[mail]",
        f'mailer = "{"smtp" if smtp else "maildir"}"',
        'from_address = "digest@example.org"',
        "retries = 0",
        "[celery]",
        f'broker_url = "{redis_url}"',
        f"visibility_timeout = {visibility_timeout}",
        "[day]",
        *(['engine = "celery"'] if engine else []),
        *(f"{k} = {v}" for k, v in day.items()),
    ]
    if smtp is not None:
        lines += ["[smtp]", f'host = "{smtp.host}"', f"port = {smtp.port}", 'security = "plain"']
    path.write_text("\n".join(lines) + "\n")
    return path


@contextmanager
def workers(config: Path, count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` `digest worker` processes, each the leader of its own process group
    (the worker and its pool), so that one can be killed whole, like a lost machine."""
    logs = config.parent
    procs = [
        subprocess.Popen(
            [DIGEST, "worker", "--config", str(config), "--concurrency", "1"],
            stdout=(logs / f"worker{n}.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for n in range(count)
    ]
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _tree(pid: int) -> list[int]:
    found = [pid]
    for child in _children(pid):
        found += _tree(child)
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_a_worker_killed_mid_shard_leaves_every_digest_sent_exactly_once(
    tmp_path: Path, postgres: PostgresServer, redis_url: str, smtp_server: SmtpServer
) -> None:
    lease, visibility = 4, 10
    settings = make_day(tmp_path, 2000, postgres.create())
    config = cluster_config(
        settings,
        redis_url,
        smtp=smtp_server,
        visibility_timeout=visibility,
        engine=False,  # named on the command line instead
        shard_size=250,
        claim_lease=lease,
    )
    killed: list[float] = []
    lock = threading.Lock()
    nodes: list[subprocess.Popen[bytes]] = []

    def kill_a_worker(peer: tuple[str, int]) -> str | None:
        with lock:
            if killed or len(smtp_server.messages) < 300:
                return None
            for node in nodes:
                if _pid_of_peer(peer[1], _tree(node.pid)) is not None:
                    os.killpg(node.pid, signal.SIGKILL)  # the worker and its pool, at once
                    killed.append(time.monotonic())
                    return "451 4.3.0 the sender is gone"  # nothing taken from a dead client
        return None

    smtp_server.on_data = kill_a_worker
    args = [DIGEST, "run", "--engine", "celery", "--no-collect", "--date", str(DAY)]
    args += ["--config", str(config)]
    with workers(config, 2) as started:
        nodes += started
        run = subprocess.run(args, capture_output=True, text=True, timeout=600)
        finished = time.monotonic()
    assert killed, f"no worker was killed:\n{run.stdout}\n{run.stderr}"
    assert run.returncode == 0, run.stdout + run.stderr
    assert finished - killed[0] > lease  # the lost shard was finished after its lease
    by_id = Counter(str(m["Message-ID"]) for m in smtp_server.messages)
    assert len(by_id) == 2000
    assert set(by_id.values()) == {1}
    assert {str(m["To"]) for m in smtp_server.messages} == {
        f"reader{i}@example.org" for i in range(2000)
    }
    store = open_store(settings)
    rows = store.deliveries(day=DAY)
    store.close()
    assert Counter(r.status for r in rows) == {"sent": 2000}
    assert max(r.attempts for r in rows) == 2  # the lost shard's rows were taken over
    assert {r.message_id for r in rows} == set(by_id)


def test_the_same_day_on_celery_and_postgresql_as_on_the_local_pool_and_sqlite(
    tmp_path: Path, postgres: PostgresServer, redis_url: str
) -> None:
    local = make_day(tmp_path / "local", 60, None, shard_size=8)
    config = cluster_config(
        make_day(tmp_path / "cluster", 60, postgres.create()), redis_url, shard_size=8
    )
    cluster = load_settings(config)
    reports = []
    for settings, engine in ((local, "local"), (cluster, "celery")):
        store = open_store(settings)
        running = workers(config, 2) if engine == "celery" else _nothing()
        with running, time_machine.travel(NOW, tick=False):
            reports.append(
                run_day(
                    store, settings, now=NOW, day=DAY, collect_first=False, workers=2, engine=engine
                )
            )
        store.close()
    for report in reports:
        assert report.sent == 60 and report.ok and report.written.shards == 8
    assert outbox(local) == outbox(cluster)
    assert len(outbox(local)) == 60

    def feeds(settings: Settings) -> dict[str, bytes | None]:
        """Each reader's feed as the web app serves it: made from the ledger here, from
        the fragments the workers wrote into PostgreSQL on the cluster."""
        store = open_store(settings)
        links = link_maker(settings)
        renderer = Renderer(settings)
        found = {
            sub.email: served_feed(store, settings, sub, links=links, renderer=renderer)
            for sub in store.subscribers()
        }
        store.close()
        return found

    assert len(feeds(local)) == 60 and all(feeds(local).values())
    assert feeds(local) == feeds(cluster)
    assert not (cluster.data_dir / "feeds").exists()


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def test_a_shard_another_machine_holds_is_taken_over_when_its_lease_runs_out(
    tmp_path: Path, postgres: PostgresServer, redis_url: str, smtp_server: SmtpServer
) -> None:
    lease = 3
    config = cluster_config(
        make_day(tmp_path, 20, postgres.create()),
        redis_url,
        smtp=smtp_server,
        shard_size=10,
        claim_lease=lease,
    )
    settings = load_settings(config)
    store = open_store(settings)
    plan = plan_day(store, settings, now=NOW, day=DAY)
    first, _ = plan.shards
    # a worker on another machine holds the first shard: alive, as far as anyone here knows
    held = store.claim(
        first.ids, owner="elsewhere:1:1", now=NOW, lease=timedelta(seconds=lease), alive=owner_alive
    )
    assert len(held) == 10
    report = ShardReport()
    started = time.monotonic()
    with workers(config, 1):
        aborted = run_shards(
            settings, plan.shards, plan.model, now=NOW, epoch=time.time(), report=report
        )
    rows = store.deliveries(day=DAY)
    store.close()
    assert aborted is None
    assert time.monotonic() - started > lease
    assert report.sent == 20 and report.shards == 2
    assert Counter(str(m["Message-ID"]) for m in smtp_server.messages).most_common(1)[0][1] == 1
    assert len(smtp_server.messages) == 20
    taken = {r.id: (r.owner, r.attempts) for r in rows if r.id in first.ids}
    assert all(owner != "elsewhere:1:1" and attempts == 2 for owner, attempts in taken.values())


def test_celery_is_refused_with_feeds_kept_in_files(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    config = tmp_path / "digest.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\nsecret_key = "{SECRET}"\nfeed_storage = "files"\n'
    )
    args = [DIGEST, "run", "--engine", "celery", "--no-collect", "--config", str(config)]
    refused = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2
    assert 'feed_storage = "ledger" or "database"' in refused.stderr
