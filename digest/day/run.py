"""The whole day: collect, plan once, run the shards, report.

Shards run in this process (one worker) or on a pool of forked worker processes, each
handed one shard at a time over its own pipe, so the day always knows which shard a
worker holds: a worker that dies is replaced and its shard handed out again (its rows
are taken over at once, since their owner is dead). Workers die with the day's
process.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from multiprocessing.connection import Connection, wait
from typing import Any

from digest.collect import CollectReport
from digest.day.picks import Picker
from digest.day.plan import Plan, ShardSpec, find_due, plan_day, waiting
from digest.day.returns import ReturnsReport, read_returns
from digest.day.shard import ShardReport, Stopped, Worker, link_maker, open_store, signing_key
from digest.day.sources import collect_sources
from digest.day.vectors import Models, refit
from digest.deliver import Mailer
from digest.models import Digest, SourceReport
from digest.settings import Settings
from digest.store import Store

Progress = Callable[[int, int, int], None]  # digests done, of, shards done
MAX_RESTARTS = 8


@dataclass(slots=True)
class DayReport:
    """What a run collected, planned and wrote."""

    collected: CollectReport | None = None
    returns: ReturnsReport | None = None  # the bounce mailbox, read before planning
    refitted: bool = False
    plan: Plan = field(default_factory=Plan)
    written: ShardReport = field(default_factory=ShardReport)
    workers: int = 1
    dry_run: bool = False
    previews: dict[str, Digest] = field(default_factory=dict)
    waiting: dict[str, datetime | None] = field(default_factory=dict)  # dry run: not due
    seconds: dict[str, float] = field(default_factory=dict)
    aborted: str | None = None

    @property
    def due(self) -> int:
        return len(self.previews) if self.dry_run else self.plan.planned

    @property
    def sent(self) -> int:
        return self.written.sent

    @property
    def empty(self) -> int:
        return self.written.empty

    @property
    def feed_only(self) -> int:
        return self.written.feed_only

    @property
    def deferred(self) -> list[tuple[str, str]]:
        return self.written.deferred

    @property
    def failed(self) -> list[tuple[str, str]]:
        return self.written.failed

    def explain(self) -> list[str]:
        """Why digests were empty or short, one line per reason, most readers first:
        what ``digest run`` prints after its counts, so that a quiet day is never
        mistaken for a broken one (or the other way round)."""
        notes = sorted(self.written.notes.items(), key=lambda item: (-item[1], item[0]))
        return [f"{count} reader{'' if count == 1 else 's'} told: {text}" for text, count in notes]

    def figures(self) -> dict[str, Any]:
        """The run's counts and timings as plain data (``digest run --stats``)."""
        w = self.written
        return {
            "planned": self.plan.planned,
            "owed": self.plan.owed,
            "rebuilt": self.plan.rebuilt,
            "refitted": self.refitted,
            "workers": self.workers,
            "shards": w.shards,
            "claimed": w.claimed,
            "sent": w.sent,
            "empty": w.empty,
            "feed_only": w.feed_only,
            "cancelled": w.cancelled,
            "feeds": w.feeds,
            "deferred": len(w.deferred),
            "failed": len(w.failed),
            "notes": dict(w.notes),
            "seconds": dict(self.seconds),
            "worker_seconds": dict(w.seconds),
        }

    @property
    def ok(self) -> bool:
        """False when a source or a delivery failed, when every delivery tried was
        deferred (a relay that is down), or when the run was cut short."""
        all_deferred = bool(self.written.deferred) and not self.written.sent
        return (
            not self.written.failed
            and not all_deferred
            and self.aborted is None
            and (self.collected is None or not self.collected.failed)
        )


def run_day(
    store: Store,
    settings: Settings,
    *,
    now: datetime,
    day: date | None = None,
    only: str | None = None,
    dry_run: bool = False,
    collect_first: bool = True,
    mailer: Mailer | None = None,
    on_source: Callable[[SourceReport], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    workers: int | None = None,
    progress: Progress | None = None,
    engine: str | None = None,
) -> DayReport:
    """Collect the configured sources (refitting the text model if they grew the
    corpus enough), plan the day, then run its shards: here, or on Celery workers
    when ``engine`` (default ``day.engine``) is ``"celery"``. ``dry_run`` decides
    what each due reader would get and writes nothing."""
    report = DayReport(dry_run=dry_run)
    link_maker(settings)  # no secret, no run
    signing_key(settings)  # nor with a DKIM key that cannot sign
    epoch = time.time()  # the wall-clock time ``now`` stands for
    started = time.perf_counter()
    if collect_first and settings.sources and not dry_run:
        report.collected = collect_sources(
            store, settings, settings.sources, now=now, on_source=on_source
        )
        if report.collected.batch.size or report.collected.recovered:
            report.refitted = refit(store, now=now) is not None
    if settings.bounces.configured and not dry_run:
        report.returns = read_returns(store, settings, now=now)
    lap = time.perf_counter()
    report.seconds["collect"] = lap - started
    if dry_run:
        report.previews = _previews(store, settings, now=now, day=day, only=only)
        report.waiting = waiting(store, now=now, due=set(report.previews), only=only)
        return report
    if (engine or settings.day.engine) == "celery":
        return _on_celery(store, settings, report, now=now, day=day, only=only, progress=progress)
    wanted = workers or settings.day.workers or os.cpu_count() or 1
    pool = None
    if mailer is None and wanted > 1:
        # workers are forked before planning, so that none of them inherits the plan
        store.release()  # and no database connection crosses the fork
        pool = Pool(settings, now, wanted, epoch)
    try:
        report.plan = plan_day(store, settings, now=now, day=day, only=only)
        report.seconds["plan"] = time.perf_counter() - lap
        shards = report.plan.shards
        report.plan.due = []  # counted; the rows are in the ledger
        if pool is not None and len(shards) > 1:
            report.workers = wanted
            report.aborted = pool.run(shards, report.plan.model, report, progress)
        else:
            with Worker(settings, now=now, mailer=mailer, sleep=sleep, epoch=epoch) as worker:
                total = sum(len(s.ids) for s in shards)
                for n, spec in enumerate(shards, 1):
                    report.written.merge(worker.run(spec, report.plan.model))
                    if progress is not None:
                        progress(report.written.claimed, total, n)
    finally:
        if pool is not None:
            pool.close()
    report.seconds["write"] = time.perf_counter() - lap - report.seconds["plan"]
    return report


def _on_celery(
    store: Store,
    settings: Settings,
    report: DayReport,
    *,
    now: datetime,
    day: date | None,
    only: str | None,
    progress: Progress | None,
) -> DayReport:
    from digest.day.cluster import run_shards

    epoch = time.time()
    lap = time.perf_counter()
    report.plan = plan_day(store, settings, now=now, day=day, only=only)
    report.seconds["plan"] = time.perf_counter() - lap
    report.plan.due = []
    report.workers = 0  # however many are listening
    if report.plan.shards:
        report.aborted = run_shards(
            settings,
            report.plan.shards,
            report.plan.model,
            now=now,
            epoch=epoch,
            report=report.written,
            progress=progress,
        )
    report.seconds["write"] = time.perf_counter() - lap - report.seconds["plan"]
    return report


def _previews(
    store: Store, settings: Settings, *, now: datetime, day: date | None, only: str | None
) -> dict[str, Digest]:
    due = find_due(store, now=now, day=day, only=only)
    taken = {
        (d.subscriber_id, d.day)
        for when in {d.day for d in due}
        for d in store.deliveries(day=when)
    }
    due = [d for d in due if (d.subscriber_id, d.day) not in taken]
    models = Models(store)
    current = models.current()
    if not due or current is None:
        return {}
    links = link_maker(settings)
    subs = store.subscribers_by_id(d.subscriber_id for d in due)
    picked = Picker(store, models, settings.day.replacements).for_readers(
        current[0], [(d.subscriber_id, d.subscriber_id, d.after_batch_id, d.batch_id) for d in due]
    )
    return {
        subs[d.subscriber_id].email: Digest(
            subs[d.subscriber_id].email,
            d.day,
            tuple(s for s in picked.get(d.subscriber_id, []) if s.papers),
            links.links(d.subscriber_id),
        )
        for d in due
    }


# the pool ------------------------------------------------------------------------------


def _stop_with_parent() -> Callable[[], bool]:
    """Have the kernel send this worker SIGTERM when the day's process dies (Linux),
    and take SIGTERM as "stop after the digest in hand": an SMTP server may already
    be taking that message, and it is recorded before the worker goes. Returns the
    check the worker makes after each digest."""
    asked: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: asked.append(signum))
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the parent died before the request took hold
        asked.append(signal.SIGTERM)
    return lambda: bool(asked)


def _work(fields: dict[str, Any], now: datetime, epoch: float, conn: Connection, done: Any) -> None:
    """A worker process: run each shard it is handed until it is handed None."""
    stopping = _stop_with_parent()
    settings = Settings.model_construct(**fields)

    def tick() -> None:
        with done.get_lock():
            done.value += 1

    with Worker(settings, now=now, on_digest=tick, stopping=stopping, epoch=epoch) as worker:
        # a shard makes millions of short-lived tuples and no cycles worth chasing
        gc.freeze()
        gc.set_threshold(100_000, 50, 100)
        while True:
            if stopping():
                return
            task = conn.recv()
            if task is None:
                return
            spec, version = task
            try:
                conn.send(("done", worker.run(spec, version)))
            except Stopped:
                return
            except Exception as exc:  # the shard's rows stay claimed; a rerun finishes them
                conn.send(("error", f"shard {spec.number}: {type(exc).__name__}: {exc}"))


class Pool:
    """Worker processes, each handed one shard at a time over its own pipe."""

    def __init__(self, settings: Settings, now: datetime, size: int, epoch: float) -> None:
        # forking a process with threads (the web app's, the scheduler's) is unsafe
        method = "fork" if threading.active_count() == 1 else "forkserver"
        self.ctx: Any = mp.get_context(method)
        self.fields = dict(settings)
        self.now = now
        self.epoch = epoch
        self.done = self.ctx.Value("q", 0)
        self.procs: dict[Connection, Any] = {}
        for _ in range(size):
            self._start()

    def _start(self) -> Connection:
        ours: Connection
        ours, theirs = self.ctx.Pipe()
        proc = self.ctx.Process(
            target=_work, args=(self.fields, self.now, self.epoch, theirs, self.done), daemon=True
        )
        proc.start()
        theirs.close()
        self.procs[ours] = proc
        return ours

    def run(
        self,
        shards: list[ShardSpec],
        version: str | None,
        report: DayReport,
        progress: Progress | None,
    ) -> str | None:
        """Run ``shards``; returns why the run stopped early, or None. A worker that
        dies is replaced and its shard handed out again."""
        todo = list(reversed(shards))
        total = sum(len(s.ids) for s in shards)
        holding: dict[Connection, ShardSpec | None] = dict.fromkeys(self.procs)
        restarts = finished = 0

        def hand_out(conn: Connection) -> None:
            if todo:
                spec = todo.pop()
                holding[conn] = spec
                conn.send((spec, version))

        for conn in list(self.procs):
            hand_out(conn)
        while any(s is not None for s in holding.values()):
            procs = self.procs
            ready = wait([*procs, *(p.sentinel for p in procs.values())], timeout=0.25)
            for conn in list(procs):
                proc = procs[conn]
                if conn in ready:
                    try:
                        kind, payload = conn.recv()
                    except (EOFError, OSError):
                        kind, payload = "died", None
                    if kind in ("done", "error"):
                        if kind == "done":
                            report.written.merge(payload)
                            finished += 1
                        else:
                            report.written.failed.append(("(shard)", payload))
                        holding[conn] = None
                        hand_out(conn)
                        continue
                elif proc.sentinel not in ready:
                    continue
                # the worker is gone: its shard goes to a new one
                spec = holding.pop(conn)
                procs.pop(conn)
                conn.close()
                proc.join()
                if spec is not None:
                    todo.append(spec)
                restarts += 1
                if restarts > MAX_RESTARTS:
                    return f"workers kept dying ({restarts} times); rerun to finish"
                fresh = self._start()
                holding[fresh] = None
                hand_out(fresh)
            if progress is not None:
                progress(self.done.value, total, finished)
        return None

    def close(self) -> None:
        for conn in self.procs:
            with contextlib.suppress(OSError, BrokenPipeError):
                conn.send(None)
        for proc in self.procs.values():
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()


# scheduled jobs -------------------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def scheduled_collect(settings: Settings) -> None:
    """Collect every configured source, then refit the text model if it is due."""
    store = open_store(settings)
    try:
        collected = collect_sources(store, settings, settings.sources, now=_utcnow())
        if collected.batch.size or collected.recovered:
            refit(store, now=_utcnow())
    finally:
        store.close()


def scheduled_deliver(settings: Settings) -> None:
    store = open_store(settings)
    try:
        run_day(store, settings, now=_utcnow(), collect_first=False)
    finally:
        store.close()
