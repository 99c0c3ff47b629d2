"""APScheduler wiring only: when to collect, when to deliver. The work is in ``digest.day``.

One scheduler runs at a time, however many ``digest schedule`` and ``digest serve``
processes there are, on however many machines: each waits for the store's
``scheduler`` lock before starting its scheduler, and the lock passes to another when
its holder dies. Jobs live in the same database (``apscheduler_jobs``), with fixed ids and
``replace_existing`` so restarts never duplicate them. Delivery runs at the top of
every hour and sends each subscriber whose local send hour has come (catching up on
any hour missed while the process was down); the send ledger makes a second process,
or a rerun, harmless.
"""

from __future__ import annotations

import threading
from pathlib import Path

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger

from digest.settings import Settings, load_settings
from digest.store import Exclusive, Store

COLLECT_JOB = "digest.collect"
DELIVER_JOB = "digest.deliver"


def configure(scheduler: BaseScheduler, settings: Settings, config_file: Path | None) -> None:
    """Add the collect and deliver jobs to ``scheduler`` (not yet started)."""
    scheduler.configure(
        jobstores={"default": SQLAlchemyJobStore(url=settings.db_url)},
        executors={"default": ThreadPoolExecutor(1)},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": settings.schedule.misfire_grace_time,
        },
        timezone="UTC",
    )
    args = [str(config_file) if config_file else None]
    scheduler.add_job(
        "digest.schedule:collect_job",
        CronTrigger.from_crontab(settings.schedule.collect_cron, timezone="UTC"),
        id=COLLECT_JOB,
        args=args,
        replace_existing=True,
    )
    scheduler.add_job(
        "digest.schedule:deliver_job",
        CronTrigger(minute=0, timezone="UTC"),
        id=DELIVER_JOB,
        args=args,
        replace_existing=True,
    )


def describe(settings: Settings) -> str:
    """One line on what the scheduler will do, for the operator starting it."""
    return (
        f"scheduler: collect at cron {settings.schedule.collect_cron!r} (UTC), "
        "deliver every hour on the hour to readers whose local send hour has come"
    )


def lead(store: Store, stop: threading.Event, *, poll: float = 5.0) -> Exclusive | None:
    """Wait until this process holds the scheduler lock (returned, to be released when
    the scheduler stops), or until ``stop`` is set (None)."""
    lock = store.exclusive("scheduler")
    while not stop.is_set():
        if lock.try_acquire():
            return lock
        stop.wait(poll)
    return None


def _settings(config_file: str | None) -> Settings:
    return load_settings(Path(config_file) if config_file else None)


def collect_job(config_file: str | None) -> None:
    from digest.day.run import scheduled_collect

    scheduled_collect(_settings(config_file))


def deliver_job(config_file: str | None) -> None:
    from digest.day.run import scheduled_deliver

    scheduled_deliver(_settings(config_file))
