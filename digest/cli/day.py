"""The day: ``digest run``, ``digest preview``, ``digest schedule`` and ``digest serve``."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from digest.cli.base import (
    ConfigProblem,
    config_file,
    console,
    main,
    need_data,
    open_data,
    utcnow,
    with_settings,
)
from digest.cli.papers import print_collect
from digest.day import preview as previews
from digest.day.returns import ReturnsReport
from digest.day.run import DayReport, run_day
from digest.day.shard import MissingSecret, link_maker
from digest.deliver import destination
from digest.settings import Settings
from digest.store import Delivery, Exclusive, Item


def print_day(
    report: DayReport,
    *,
    verbose: bool = False,
    mail_to: str | None = None,
    got: list[tuple[str, Delivery, list[Item]]] | None = None,
) -> None:
    """The day's summary; ``mail_to`` says where mail went, ``got`` who got what."""
    if report.collected is not None:
        print_collect(report.collected)
    if report.returns is not None:
        print_returns(report.returns)
    w = report.written
    if report.dry_run:
        _print_dry_run(report)
        return
    # feeds made from the ledger when fetched: the day writes none
    feeds = f" · feeds written: {w.feeds}" if w.feeds else ""
    click.echo(
        f"due: {report.due} · sent: {w.sent} · empty: {w.empty} · rss only: {w.feed_only} · "
        f"deferred: {len(w.deferred)} · failed: {len(w.failed)}{feeds}"
    )
    for line in report.explain():
        click.echo(line)
    if mail_to is not None:
        click.echo(f"mail: {mail_to}")
    for email, row, items in got or []:
        click.echo(f"  {email} ({row.day}): {_got(row, items)}")
    if report.plan.owed > report.plan.planned:
        click.echo(f"finished {report.plan.owed - report.plan.planned} left owed by earlier runs")
    if report.plan.rebuilt:
        click.echo(f"built the missing profile vectors of {report.plan.rebuilt} readers")
    if verbose and w.claimed:
        stages = " · ".join(f"{k} {v:.1f}s" for k, v in sorted(w.seconds.items()))
        click.echo(
            f"{w.shards} shards on {report.workers} worker(s); plan "
            f"{report.seconds.get('plan', 0):.1f}s, write {report.seconds.get('write', 0):.1f}s "
            f"(worker time: {stages})"
        )
    for email, reason in report.deferred:
        console.print(f"[yellow]deferred {email}: {reason}")
    for email, reason in report.failed:
        console.print(f"[red]failed {email}: {reason}")
    if report.aborted:
        console.print(f"[red]{report.aborted}")


def print_returns(returns: ReturnsReport) -> None:
    """What the bounce mailbox held: one line, and one per reader it suppressed."""
    click.echo(
        f"bounce mailbox: {returns.read} read · {len(returns.suppressed)} suppressed · "
        f"{returns.soft} soft bounces counted · {returns.ignored} not about a reader"
    )
    for email, kind, why in returns.suppressed:
        console.print(f"[yellow]suppressed {email} ({kind}): {why}")
    if returns.error:
        console.print(f"[red]{returns.error}")


def _print_dry_run(report: DayReport) -> None:
    would = sum(1 for d in report.previews.values() if d.size)
    click.echo(f"due: {report.due} · would send: {would} · not due: {len(report.waiting)}")
    for email, digest in report.previews.items():
        if not digest.size:
            click.echo(f"{email} ({digest.day}): no paper matched, no email")
            continue
        click.echo(f"{email} ({digest.day}): {digest.size} papers")
        for section in digest.sections:
            for sp in section.papers:
                click.echo(f"  [{section.profile}] {sp.paper.title} ({sp.paper.id}): {sp.why}")
    for email, when in report.waiting.items():
        if when is None:
            click.echo(f"{email}: not due, and gets no digest on any day")
        else:
            click.echo(f"{email}: not due; next {when:%Y-%m-%d %H:%M} {when.tzinfo} ({when:%a})")


def _got(row: Delivery, items: list[Item]) -> str:
    """What one ledger row says a reader got."""
    if row.error:
        return f"{row.status}: {row.error}"
    if not items:
        return row.status
    per: dict[str, int] = {}
    for item in items:
        per[item.profile] = per.get(item.profile, 0) + 1
    profiles = ", ".join(f"{name} {count}" for name, count in per.items())
    return f"{row.status}, {len(items)} papers ({profiles})"


def _day_with_progress(store: Any, settings: Settings, **kwargs: Any) -> DayReport:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} digests · {task.fields[rate]}/s"),
        TextColumn("· {task.fields[shards]} shards done ·"),
        TimeRemainingColumn(),
    )
    # refreshed by the run's own calls: no thread, so the run may fork its workers
    with Progress(*columns, console=console, transient=True, auto_refresh=False) as bar:
        task = bar.add_task("the day", total=0, rate="0", shards=0)
        started: list[float] = []

        def progress(done: int, total: int, shards: int) -> None:
            import time

            now = time.perf_counter()
            if not started:
                started.append(now)
            rate = done / max(now - started[0], 1e-9)
            bar.update(task, completed=done, total=total, rate=f"{rate:,.0f}", shards=shards)
            bar.refresh()

        return run_day(store, settings, progress=progress, **kwargs)


@main.command("run")
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Send the digests of this local day now, whatever the send hour.",
)
@click.option("--dry-run", is_flag=True, help="Decide what each reader would get; write nothing.")
@click.option("--only", metavar="EMAIL", default=None, help="Only this subscriber.")
@click.option("--no-collect", is_flag=True, help="Skip collecting the configured sources.")
@click.option(
    "--workers", type=click.IntRange(min=1), default=None, help="Worker processes (default: cores)."
)
@click.option(
    "--engine",
    type=click.Choice(["local", "celery"]),
    default=None,
    help="Run the shards here, or on `digest worker` processes (default: day.engine).",
)
@click.option("--verbose", "-v", is_flag=True, help="Who got what, and where the time went.")
@click.option(
    "--stats",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the run's counts and per-stage timings to this JSON file.",
)
@with_settings
def run_command(
    settings: Settings,
    day: datetime | None,
    dry_run: bool,
    only: str | None,
    no_collect: bool,
    workers: int | None,
    engine: str | None,
    verbose: bool,
    stats: Path | None,
) -> None:
    """The day's job: collect → plan → shards (score, render, deliver), for every
    reader due.

    Rerunning sends nothing twice, and finishes what a crashed run left. Exits 1 if
    a source or a delivery failed, or if every delivery was deferred.

    \b
        digest run
        digest run --date 2026-11-20 --only ada@example.org --dry-run
        digest run --engine celery       # shards on `digest worker` processes
    """
    if engine == "celery" and settings.feed_storage == "files":
        raise ConfigProblem(
            '--engine celery needs feed_storage = "ledger" or "database": workers on other '
            "machines write feeds that the web app serves"
        )
    store = open_data(settings)
    if only is not None and store.subscriber(only) is None:
        store.close()
        raise click.ClickException(f"no subscriber {only}")
    try:
        report = _day_with_progress(
            store,
            settings,
            now=utcnow(),
            day=day.date() if day else None,
            only=only,
            dry_run=dry_run,
            collect_first=not no_collect,
            workers=workers,
            engine=engine,
        )
        got = None
        if verbose and not dry_run:  # who got what: the ledger rows this run finished
            rows = store.ledger(ids=[i for shard in report.plan.shards for i in shard.ids])
            items = store.items(row.id for _, row in rows)
            got = [(email, row, items[row.id]) for email, row in rows]
    except MissingSecret as exc:
        raise ConfigProblem(str(exc)) from exc
    finally:
        store.close()
    print_day(report, verbose=verbose, mail_to=None if dry_run else destination(settings), got=got)
    if stats is not None:
        stats.write_text(json.dumps(report.figures(), indent=2), encoding="utf-8")
    sys.exit(0 if report.ok else 1)


@main.command("worker")
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(min=1),
    default=None,
    help="Shards run at once, one process each (default: day.workers, or one per core).",
)
@click.option("--loglevel", default="INFO", show_default=True, help="Celery's log level.")
@with_settings
def worker_command(settings: Settings, concurrency: int | None, loglevel: str) -> None:
    """Run the day's shards that `digest run --engine celery` (or day.engine =
    "celery") sends to [celery].broker_url, on this machine, until stopped. Start
    one on every machine that should send; all share the database.

    \b
        digest worker --concurrency 4
    """
    try:
        link_maker(settings)  # refuse to start without a usable secret
    except MissingSecret as exc:
        raise ConfigProblem(str(exc)) from exc
    from digest.day.cluster import check, make_app

    check(settings)
    processes = concurrency or settings.day.workers or os.cpu_count() or 1
    make_app(settings).worker_main(
        [
            "worker",
            f"--concurrency={processes}",
            f"--loglevel={loglevel}",
            f"--queues={settings.celery.queue}",
            "--without-gossip",
            "--without-mingle",
        ]
    )


@main.command("preview")
@click.argument("email")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the HTML (default: <data_dir>/previews/<email>.html).",
)
@with_settings
def preview_command(settings: Settings, email: str, out: Path | None) -> None:
    """Write the HTML digest EMAIL would get now, without sending or recording it.

    \b
        digest preview ada@example.org --out /tmp/ada.html
    """
    store = open_data(settings)
    try:
        html = previews.preview(store, settings, email, now=utcnow())
    except MissingSecret as exc:
        raise ConfigProblem(str(exc)) from exc
    finally:
        store.close()
    if html is None:
        raise click.ClickException(f"no subscriber {email}")
    out = out or settings.data_dir / "previews" / f"{email.lower()}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    click.echo(str(out))


@main.command("schedule")
@with_settings
def schedule_command(settings: Settings) -> None:
    """Run the scheduler: collect on `schedule.collect_cron`, deliver every hour to
    those whose local send hour has come. Ctrl-C stops it.

    \b
        digest schedule
    """
    from apscheduler.schedulers.blocking import BlockingScheduler

    from digest.schedule import configure, describe, lead

    try:
        link_maker(settings)  # refuse to start without a usable secret
    except MissingSecret as exc:
        raise ConfigProblem(str(exc)) from exc
    store = open_data(settings)
    try:
        lock = store.exclusive("scheduler")
        held: Exclusive | None = lock if lock.try_acquire() else None
        if held is None:
            click.echo("another scheduler is running; this one takes over when it stops")
            with contextlib.suppress(KeyboardInterrupt):
                held = lead(store, threading.Event())
        if held is None:
            return
        scheduler = BlockingScheduler()
        configure(scheduler, settings, config_file())
        click.echo("scheduler running; Ctrl-C to stop")
        click.echo(describe(settings))
        with contextlib.suppress(KeyboardInterrupt, SystemExit):
            scheduler.start()
        held.release()
    finally:
        store.close()


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@with_settings
def serve_command(settings: Settings, host: str, port: int) -> None:
    """Serve the subscribers' web app, with the scheduler in the same process.

    \b
        digest serve --host 0.0.0.0 --port 8000
    """
    from digest.schedule import describe
    from digest.web import serve

    need_data(settings)
    try:
        link_maker(settings)  # refuse to start without a usable secret, before saying more
        click.echo(describe(settings))
        serve(settings, host, port, config_file=config_file())
    except MissingSecret as exc:
        raise ConfigProblem(str(exc)) from exc
