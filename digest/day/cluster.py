"""The day's shards on Celery workers, on as many machines as there are.

The day plans as ever (in the process that runs it), then sends one task per shard to
the broker; ``digest worker`` processes run them with the same :class:`Worker` as the
local pool, against the same database (PostgreSQL, for more than one machine).

Celery hands a task out at least once: with late acknowledgement, a task whose
worker was lost (a killed process, a machine gone) goes to another worker, at once
when the worker's own pool saw its process die, after the broker's visibility
timeout when the whole worker vanished. The ledger makes that exactly once: a run of
a shard claims only rows nobody alive holds, and a row once finished is never claimed
again. A task that finds some of its rows held by another owner waits for that
claim's lease (as a retry, not holding a worker), then takes over what is left.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

from celery import Celery, Task
from celery.result import AsyncResult, ResultSet

from digest.day.plan import ShardSpec
from digest.day.shard import ShardReport, Worker, open_store
from digest.settings import Settings

TASK = "digest.shard"


def make_app(settings: Settings) -> Celery:
    """The Celery app of this installation: its broker, and the shard task."""
    app = Celery("digest", broker=settings.celery.broker_url, backend=settings.celery.broker_url)
    visibility = settings.celery.visibility_timeout
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_default_queue=settings.celery.queue,
        # a task is acknowledged once it has run: a lost worker's shard is handed out again
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={
            "visibility_timeout": visibility,
            # look for lost tasks often enough for the timeout to mean what it says
            "unacked_restore_interval": max(1, min(60, visibility // 4)),
            "unacked_restore_throttle": 1,
        },
        result_expires=timedelta(days=2),
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    shards = _Shards(settings)

    @app.task(name=TASK, bind=True, max_retries=None)  # type: ignore[untyped-decorator]
    def shard(task: Task, spec: dict[str, Any], carried: dict[str, Any] | None = None) -> Any:
        return shards.run(task, spec, carried)

    return app


def shard_message(
    spec: ShardSpec, version: str | None, now: datetime, epoch: float
) -> dict[str, Any]:
    """A shard as the task's argument: plain JSON."""
    return {
        "number": spec.number,
        "ids": list(spec.ids),
        "version": version,
        "now": now.isoformat(),
        "epoch": epoch,
    }


def report_data(report: ShardReport) -> dict[str, Any]:
    return dataclasses.asdict(report)


def report_from(data: dict[str, Any]) -> ShardReport:
    found = ShardReport(**data)
    found.deferred = [(a, b) for a, b in found.deferred]
    found.failed = [(a, b) for a, b in found.failed]
    return found


class _Shards:
    """What one worker process keeps between tasks: a :class:`Worker` for the day at
    hand (its store, renderer and mail connection), made on the first task."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.worker: Worker | None = None
        self.day: tuple[datetime, float] | None = None

    def _worker(self, now: datetime, epoch: float) -> Worker:
        if self.worker is None or self.day != (now, epoch):
            if self.worker is not None:
                self.worker.__exit__(None, None, None)
            self.worker = Worker(self.settings, now=now, epoch=epoch).__enter__()
            self.day = (now, epoch)
        return self.worker

    def run(self, task: Task, spec: dict[str, Any], carried: dict[str, Any] | None) -> Any:
        now = datetime.fromisoformat(spec["now"])
        worker = self._worker(now, spec["epoch"])
        report = worker.run(ShardSpec(spec["number"], tuple(spec["ids"])), spec["version"])
        if carried is not None:
            report.merge(report_from(carried))
            report.shards = 1
        held = worker.store.held_elsewhere(spec["ids"], owner=worker.owner)
        if held:
            # another owner holds rows of this shard (a lost worker, or a copy of this
            # task still running): come back when its lease runs out
            wait = held[0] + worker.lease - worker.clock()
            raise task.retry(
                kwargs={"spec": spec, "carried": report_data(report)},
                countdown=max(1.0, min(wait.total_seconds() + 1, worker.lease.total_seconds())),
            )
        return report_data(report)


def run_shards(
    settings: Settings,
    shards: list[ShardSpec],
    version: str | None,
    *,
    now: datetime,
    epoch: float,
    report: ShardReport,
    progress: Any = None,
) -> str | None:
    """Send every shard to the workers and wait until each has run; merges what they
    did into ``report``. Returns why the run stopped early, or None."""
    app = make_app(settings)
    total = sum(len(s.ids) for s in shards)
    results = ResultSet(
        [app.send_task(TASK, args=[shard_message(s, version, now, epoch)]) for s in shards],
        app=app,
    )
    done: list[int] = []

    def finished(_task_id: str, value: Any) -> None:
        if isinstance(value, dict):
            report.merge(report_from(value))
        else:
            report.failed.append(("(shard)", f"{type(value).__name__}: {value}"))
        done.append(1)
        if progress is not None:
            progress(report.claimed, total, len(done))

    try:
        results.join_native(callback=finished, propagate=False, timeout=None)
    except KeyboardInterrupt:
        return "stopped; the workers finish the shards already sent, a rerun the rest"
    finally:
        _forget(results)
    return None


def _forget(results: ResultSet) -> None:
    for result in results.results:
        if isinstance(result, AsyncResult):
            result.forget()


def check(settings: Settings) -> None:
    """Bring the schema up to date and find out now whether the store can be reached,
    before any worker process is forked."""
    store = open_store(settings)
    store.close()
