"""The ``digest`` command: thin click commands over the library."""

from __future__ import annotations

import contextlib
import functools
import json
import secrets
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from digest import accounts, rank
from digest.collect import CollectReport
from digest.day import demo as demos
from digest.day import preview as previews
from digest.day import sources as day_sources
from digest.day.run import DayReport, run_day
from digest.day.shard import MissingSecret, link_maker, open_store
from digest.day.vectors import refit
from digest.models import SourceReport
from digest.profiles import ProfileFileError, dump_subscriber_file, load_subscribers
from digest.resources import shipped
from digest.settings import DEFAULT_CONFIG, Settings, load_settings
from digest.sources.formats import FORMATS

F = TypeVar("F", bound=Callable[..., Any])

console = Console(stderr=True)


def utcnow() -> datetime:
    """Naive UTC, as stored in the database."""
    return datetime.now(UTC).replace(tzinfo=None)


def with_settings(func: F) -> F:
    """Shared ``--config`` option; passes the loaded ``Settings`` as ``settings``."""

    @click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=f"Settings file (default: $DIGEST_CONFIG or {DEFAULT_CONFIG}).",
    )
    @functools.wraps(func)
    def wrapper(*args: Any, config_file: Path | None, **kwargs: Any) -> Any:
        try:
            settings = load_settings(config_file)
        except (ValidationError, ValueError, OSError) as exc:
            raise click.ClickException(f"bad settings: {exc}") from exc
        # the scheduler's jobs load their settings again, from the same file
        click.get_current_context().meta["digest.config_file"] = config_file
        return func(*args, settings=settings, **kwargs)

    return wrapper  # type: ignore[return-value]


@click.group()
@click.version_option(package_name="digest")
def main() -> None:
    """A self-hosted, personalised daily digest of new research papers."""


@main.command()
@with_settings
def init(settings: Settings) -> None:
    """Create the data folder, the database and, if missing, config/digest.toml.

    The new config file is the commented example with a freshly generated
    secret_key.

        digest init
    """
    store = open_store(settings)
    store.close()
    click.echo(f"database ready: {settings.db_url}")
    if not DEFAULT_CONFIG.exists():
        DEFAULT_CONFIG.parent.mkdir(parents=True, exist_ok=True)
        text = (shipped("config") / "digest.example.toml").read_text(encoding="utf-8")
        key = secrets.token_urlsafe(32)
        DEFAULT_CONFIG.write_text(
            text.replace('# secret_key = "…"', f'secret_key = "{key}"'), encoding="utf-8"
        )
        DEFAULT_CONFIG.chmod(0o600)
        click.echo(f"wrote {DEFAULT_CONFIG} (with a new secret_key)")


@main.command("config")
@with_settings
def show_config(settings: Settings) -> None:
    """Print the effective settings as JSON, secrets masked.

    DIGEST_SMTP__HOST=mail.example.org digest config
    """
    click.echo(json.dumps(settings.masked(), indent=2))


@main.command("collect")
@click.argument("locations", nargs=-1)
@click.option(
    "--format",
    "format_",
    type=click.Choice(FORMATS),
    default=None,
    help="Force the input format of the given PATH_OR_URLs (default: detect).",
)
@click.option("--samples", is_flag=True, help="Collect the bundled sample sources.")
@with_settings
def collect_command(
    settings: Settings, locations: tuple[str, ...], format_: str | None, samples: bool
) -> None:
    """Collect new papers from every configured source, or from PATH_OR_URL… given.

    Prints one line per source and exits 1 if any source failed.

        digest collect
        digest collect ../feeds/cs.rdf https://export.arxiv.org/rss/cs.LG --format feed
    """
    if locations:
        configs = day_sources.adhoc_sources(locations, format_)
    elif samples:
        configs = day_sources.sample_sources()
    else:
        configs = settings.sources
    if not configs:
        raise click.UsageError("no sources: add [[sources]] to the config, or give PATH_OR_URL")
    store = open_store(settings)
    try:
        report = _collect_with_progress(store, settings, configs)
        if report.batch.size and refit(store, now=utcnow()) is not None:
            console.print("refitted the text model and rebuilt every profile's vectors")
    finally:
        store.close()
    _print_collect(report)
    sys.exit(1 if report.failed else 0)


def _collect_with_progress(store: Any, settings: Settings, configs: list[Any]) -> CollectReport:
    from rich.progress import Progress

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("collecting", total=len(configs))

        def advance(report: SourceReport) -> None:
            progress.advance(task)

        return day_sources.collect_sources(
            store, settings, configs, now=utcnow(), on_source=advance
        )


def _print_collect(report: CollectReport) -> None:
    table = Table(title=f"batch {report.batch.id}: {report.batch.size} new papers")
    for column in ("source", "fetched", "new", "updated", "status"):
        table.add_column(
            column, justify="right" if column in ("fetched", "new", "updated") else "left"
        )
    for s in report.sources:
        status = (
            f"[red]error: {s.error}" if s.error else ("not modified" if s.not_modified else "ok")
        )
        table.add_row(s.name, str(s.fetched), str(s.new), str(s.updated), status)
    Console().print(table)
    for s in report.failed:
        console.print(f"[red]source {s.name!r} failed: {s.error}")


@main.command("refit")
@with_settings
def refit_command(settings: Settings) -> None:
    """Fit the text model on the newest stored papers now, and rebuild every
    profile's vectors with it.

    `digest collect` does this by itself once the corpus has grown by a quarter.

        digest refit
    """
    store = open_store(settings)
    try:
        version = refit(store, now=utcnow(), force=True)
    finally:
        store.close()
    if version is None:
        raise click.ClickException("no papers stored yet: run `digest collect` first")
    click.echo(f"text model {version} fitted; profile vectors rebuilt")


@main.command("papers")
@click.option(
    "--batch", "batch_id", type=int, default=None, help="Only papers first seen in batch N."
)
@click.option("--limit", type=int, default=None, help="At most N papers.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@with_settings
def papers_command(
    settings: Settings, batch_id: int | None, limit: int | None, as_json: bool
) -> None:
    """List stored papers, oldest first.

    digest papers --batch 3 --json | jq .title
    """
    store = open_store(settings)
    try:
        found = store.papers(batch_id=batch_id, limit=limit)
    finally:
        store.close()
    if as_json:
        for paper in found:
            click.echo(json.dumps(paper.to_json(), ensure_ascii=False))
        return
    table = Table(title=f"{len(found)} papers")
    for column in ("id", "title", "categories", "source"):
        table.add_column(column, overflow="fold")
    for p in found:
        table.add_row(p.id, p.title, " ".join(p.categories), p.source)
    Console().print(table)


@main.command("rank")
@click.option("--papers", "papers_path", required=True, type=click.Path(path_type=Path))
@click.option("--profile", "profile_path", required=True, type=click.Path(path_type=Path))
@click.option("--top", type=click.IntRange(min=1), default=None, help="Only the best N.")
@click.option("--json", "as_json", is_flag=True, help='One {"id", "score", "why"} per line.')
def rank_command(papers_path: Path, profile_path: Path, top: int | None, as_json: bool) -> None:
    """Rank the papers of a JSON Lines file for one profile file, best first.

    Touches no database. Each line of PAPERS has id, title, abstract and optionally
    authors and categories; PROFILE holds one profile as top-level keys.

        digest rank --papers today.jsonl --profile me.toml --top 10 --json
    """
    try:
        ranked = rank.rank_file(papers_path, profile_path, top)
    except (ProfileFileError, rank.RankInputError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        for line in rank.json_lines(ranked):
            click.echo(line)
        return
    for n, sp in enumerate(ranked, 1):
        click.echo(f"{n:3d}. {sp.score:6.3f}  {sp.paper.id}  {sp.paper.title}\n       {sp.why}")


@main.group("profile")
def profile_group() -> None:
    """Import and export subscribers' profile files."""


@profile_group.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@with_settings
def profile_import(settings: Settings, files: tuple[Path, ...]) -> None:
    """Store the subscribers and profiles of each FILE (replacing their profiles).

    \b
    A FILE is one subscriber's TOML file, or many subscribers as JSON Lines (.jsonl,
    one subscriber file as a JSON object per line). Subscribers imported this way are
    active. A bad file changes nothing and names the file, the line, the field and
    the reason.

    \b
        digest profile import config/profiles/*.toml
        digest profile import readers.jsonl
    """
    loaded = []
    for path in files:
        try:
            loaded += load_subscribers(path)
        except ProfileFileError as exc:
            raise click.ClickException(str(exc)) from exc
    store = open_store(settings)
    try:
        count = accounts.import_subscribers(store, loaded, now=utcnow())
    finally:
        store.close()
    if len(loaded) <= 20:
        for sub in loaded:
            click.echo(f"imported {sub.email}: {len(sub.profiles)} profile(s)")
    else:
        profiles = sum(len(s.profiles) for s in loaded)
        click.echo(f"imported {count} subscribers, {profiles} profiles")


@profile_group.command("export")
@click.argument("email")
@with_settings
def profile_export(settings: Settings, email: str) -> None:
    """Print a subscriber's profile file, as `digest profile import` reads it.

    digest profile export ada@example.org > config/profiles/ada.toml
    """
    store = open_store(settings)
    try:
        sub = accounts.export_subscriber(store, email)
    finally:
        store.close()
    if sub is None:
        raise click.ClickException(f"no subscriber {email}")
    click.echo(dump_subscriber_file(sub), nl=False)


def _print_day(report: DayReport, *, verbose: bool = False) -> None:
    if report.collected is not None:
        _print_collect(report.collected)
    w = report.written
    if report.dry_run:
        click.echo(f"due: {report.due} · would send: {len(report.previews)}")
        for email, digest in report.previews.items():
            click.echo(f"  {email}: {digest.size} papers")
            if verbose:
                for section in digest.sections:
                    for sp in section.papers:
                        click.echo(f"    [{section.profile}] {sp.paper.title[:70]} — {sp.why}")
        return
    click.echo(
        f"due: {report.due} · sent: {w.sent} · empty: {w.empty} · rss only: {w.feed_only} · "
        f"deferred: {len(w.deferred)} · failed: {len(w.failed)} · feeds written: {w.feeds}"
    )
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
    """
    store = open_store(settings)
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
        )
    except MissingSecret as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    _print_day(report, verbose=verbose)
    if stats is not None:
        stats.write_text(json.dumps(report.figures(), indent=2), encoding="utf-8")
    sys.exit(0 if report.ok else 1)


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

    digest preview ada@example.org --out /tmp/ada.html
    """
    store = open_store(settings)
    try:
        html = previews.preview(store, settings, email, now=utcnow())
    except MissingSecret as exc:
        raise click.ClickException(str(exc)) from exc
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

        digest schedule
    """
    from apscheduler.schedulers.blocking import BlockingScheduler

    from digest.schedule import configure

    try:
        link_maker(settings)  # refuse to start without a usable secret
    except MissingSecret as exc:
        raise click.ClickException(str(exc)) from exc
    scheduler = BlockingScheduler()
    configure(scheduler, settings, _config_file())
    click.echo("scheduler running; Ctrl-C to stop")
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler.start()


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8000, show_default=True)
@with_settings
def serve_command(settings: Settings, host: str, port: int) -> None:
    """Serve the subscribers' web app, with the scheduler in the same process.

    digest serve --host 0.0.0.0 --port 8000
    """
    from digest.web import serve

    try:
        serve(settings, host, port, config_file=_config_file())
    except MissingSecret as exc:
        raise click.ClickException(str(exc)) from exc


def _config_file() -> Path | None:
    found: Path | None = click.get_current_context().meta.get("digest.config_file")
    return found


@main.command("demo")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to put the demo's data (default: a new temporary folder).",
)
def demo_command(folder: Path | None) -> None:
    """Run a whole day on the bundled sample feeds, with two demo readers.

    Needs no configuration: collects the sample sources, adds two subscribers with
    different profiles, sends their digests to a Maildir outbox, writes their RSS
    feeds and an HTML preview, and prints where everything is.

        digest demo
    """
    report = demos.demo(folder, now=utcnow(), on_source=None)
    _print_day(report.day)
    click.echo(f"\ndata folder:     {report.data_dir}")
    click.echo(f"Maildir outbox:  {report.outbox}  ({report.messages} messages in new/)")
    for path in report.feeds:
        click.echo(f"RSS feed:        {path}")
    click.echo(f"HTML preview:    {report.preview}")
    click.echo(f"\nopen the preview: python -m webbrowser file://{report.preview.resolve()}")
