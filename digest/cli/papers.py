"""The papers: ``digest collect``, ``digest refit``, ``digest papers`` and ``digest rank``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from digest import rank
from digest.cli.base import console, main, open_data, print_columns, utcnow, warn, with_settings
from digest.collect import CollectReport
from digest.day import sources as day_sources
from digest.day.vectors import refit
from digest.models import SourceReport
from digest.profiles import ProfileFileError
from digest.settings import Settings
from digest.sources.formats import FORMATS


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

    \b
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
    store = open_data(settings)
    try:
        report = _collect_with_progress(store, settings, configs)
        grew = report.batch.size or report.recovered
        if grew and refit(store, now=utcnow()) is not None:
            console.print("refitted the text model and rebuilt every profile's vectors")
    finally:
        store.close()
    print_collect(report)
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


def print_collect(report: CollectReport) -> None:
    click.echo(f"batch {report.batch.id}: {report.batch.size} new papers")
    rows = [("source", "fetched", "new", "updated", "status")]
    for s in report.sources:
        status = f"error: {s.error}" if s.error else ("not modified" if s.not_modified else "ok")
        rows.append((s.name, str(s.fetched), str(s.new), str(s.updated), status))
    print_columns(rows)
    for s in report.failed:
        console.print(f"[red]source {s.name!r} failed: {s.error}")


@main.command("refit")
@with_settings
def refit_command(settings: Settings) -> None:
    """Fit the text model on the newest stored papers now, and rebuild every
    profile's vectors with it.

    `digest collect` does this by itself once the corpus has grown by a quarter.

    \b
        digest refit
    """
    store = open_data(settings)
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

    \b
        digest papers --batch 3 --json | jq .title
    """
    store = open_data(settings)
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
@click.option(
    "--name",
    default=None,
    help="The profile of a subscriber file to rank for (default: the first).",
)
@click.option("--top", type=click.IntRange(min=1), default=None, help="Only the best N.")
@click.option("--json", "as_json", is_flag=True, help='One {"id", "score", "why"} per line.')
def rank_command(
    papers_path: Path, profile_path: Path, name: str | None, top: int | None, as_json: bool
) -> None:
    """Rank the papers of a JSON Lines file for one profile, best first.

    \b
    Touches no database. Each line of PAPERS has id, title, abstract and optionally
    authors and categories; every line is ranked and comes back with its id exactly
    as given. PROFILE is a subscriber file (as `digest profile import` reads it;
    --name picks the profile, default the first) or one profile as top-level keys.
    A seed paper's text beyond the limits is cut; warnings go to stderr.

    \b
        digest rank --papers today.jsonl --profile me.toml --top 10 --json
        digest rank --papers today.jsonl --profile ada.toml --name "information theory"
    """
    try:
        ranked = rank.rank_file(papers_path, profile_path, top, name=name, warn=warn)
    except (ProfileFileError, rank.RankInputError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        for line in rank.json_lines(ranked):
            click.echo(line)
        return
    for n, r in enumerate(ranked, 1):
        click.echo(f"{n:3d}. {r.score:6.3f}  {r.paper.id}  {r.paper.title}\n       {r.why}")
