"""The readers: ``digest profile import`` / ``export``, ``digest subscribers`` and
``digest deliveries``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from digest import accounts
from digest.cli.base import main, open_data, print_columns, utcnow, warn, with_settings
from digest.models import Status
from digest.profiles import ProfileFileError, dump_subscriber_file, load_subscribers
from digest.settings import Settings
from digest.store import Delivery

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


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
    the reason; a seed paper's title or abstract beyond the limits is cut, with a
    warning on stderr.

    \b
        digest profile import config/profiles/*.toml
        digest profile import readers.jsonl
    """
    loaded = []
    for path in files:
        try:
            loaded += load_subscribers(path, warn=warn)
        except ProfileFileError as exc:
            raise click.ClickException(str(exc)) from exc
    store = open_data(settings)
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

    \b
        digest profile export ada@example.org > config/profiles/ada.toml
    """
    store = open_data(settings)
    try:
        sub = accounts.export_subscriber(store, email)
    finally:
        store.close()
    if sub is None:
        raise click.ClickException(f"no subscriber {email}")
    click.echo(dump_subscriber_file(sub), nl=False)


def _last(delivery: Delivery | None) -> str:
    return f"{delivery.day} {delivery.status}" if delivery else "never"


@main.group("subscribers", invoke_without_command=True)
@click.option(
    "--suppressed", is_flag=True, help="The suppression list: whose mail stopped, and why."
)
@click.pass_context
def subscribers_group(ctx: click.Context, suppressed: bool) -> None:
    """List subscribers with their status and last digest; show, delete or resume one.

    \b
        digest subscribers
        digest subscribers list --status pending
        digest subscribers --suppressed
        digest subscribers show ada@example.org
        digest subscribers resume ada@example.org
        digest subscribers delete ada@example.org --yes
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(suppressed_list if suppressed else subscribers_list)


@subscribers_group.command("suppressed")
@with_settings
def suppressed_list(settings: Settings) -> None:
    """The suppression list: each address the day no longer mails, since when, and
    why (a hard bounce, repeated soft bounces, a complaint).

    \b
        digest subscribers suppressed
    """
    store = open_data(settings)
    try:
        found = store.suppressions()
    finally:
        store.close()
    if not found:
        click.echo("no suppressed subscribers")
        return
    rows = [("email", "kind", "since", "why")]
    rows += [(s.email, s.kind, f"{s.since:%Y-%m-%d %H:%M}", s.reason) for s in found]
    print_columns(rows)


@subscribers_group.command("resume")
@click.argument("email")
@with_settings
def subscribers_resume(settings: Settings, email: str) -> None:
    """Mail a suppressed subscriber again, from the next run on (as the Resume button
    on their manage page does).

    \b
        digest subscribers resume ada@example.org
    """
    store = open_data(settings)
    try:
        sub = store.subscriber(email)
        if sub is None:
            raise click.ClickException(f"no subscriber {email}")
        if not store.resume(sub.id):
            raise click.ClickException(f"{sub.email} is not suppressed")
    finally:
        store.close()
    click.echo(f"resumed {sub.email}")


@subscribers_group.command("list")
@click.option(
    "--status",
    type=click.Choice([Status.PENDING, Status.ACTIVE, Status.SUPPRESSED, Status.UNSUBSCRIBED]),
    default=None,
    help="Only subscribers with this status.",
)
@with_settings
def subscribers_list(settings: Settings, status: str | None) -> None:
    """Every subscriber: address, status, when their digest goes, their last digest.

    \b
        digest subscribers list --status active
    """
    store = open_data(settings)
    try:
        subs = store.subscribers(status=status)
        last = store.last_deliveries()
    finally:
        store.close()
    if not subs:
        click.echo("no subscribers")
        return
    rows = [("email", "status", "when", "last digest")]
    for sub in subs:
        when = f"{sub.cadence} {sub.send_hour:02d}:00 {sub.timezone}"
        rows.append((sub.email, sub.status, when, _last(last.get(sub.id))))
    print_columns(rows)


@subscribers_group.command("show")
@click.argument("email")
@with_settings
def subscribers_show(settings: Settings, email: str) -> None:
    """One subscriber: settings, profiles and their digests, newest first.

    \b
        digest subscribers show ada@example.org
    """
    store = open_data(settings)
    try:
        sub = store.subscriber(email)
        if sub is None:
            raise click.ClickException(f"no subscriber {email}")
        profiles = store.profiles(sub.id)
        ledger = store.deliveries(subscriber_id=sub.id)
        stopped = store.suppression(sub.id)
    finally:
        store.close()
    days = ",".join(WEEKDAYS[d] for d in sub.weekdays) if sub.cadence == "weekly" else "every day"
    click.echo(f"{sub.email}  {sub.status}  since {sub.created_at:%Y-%m-%d}")
    click.echo(
        f"digest: {days} at {sub.send_hour:02d}:00 {sub.timezone}, by {' and '.join(sub.channels)}"
    )
    if stopped is not None:
        click.echo(
            f"suppressed since {stopped.since:%Y-%m-%d %H:%M} ({stopped.kind}): {stopped.reason}"
        )
    for profile in profiles:
        terms = len(profile.keywords) + len(profile.authors) + len(profile.categories)
        click.echo(f"profile {profile.name!r}: {terms} terms, up to {profile.max_papers} papers")
    if not ledger:
        click.echo("no digests yet")
        return
    rows = [("day", "status", "message id", "error")]
    for d in reversed(ledger):
        rows.append((str(d.day), d.status, d.message_id or "-", d.error or ""))
    print_columns(rows)


@subscribers_group.command("delete")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_settings
def subscribers_delete(settings: Settings, email: str, yes: bool) -> None:
    """Delete a subscriber, their profiles and their ledger rows; their links stop
    working. Asks first unless --yes.

    \b
        digest subscribers delete ada@example.org --yes
    """
    store = open_data(settings)
    try:
        sub = store.subscriber(email)
        if sub is None:
            raise click.ClickException(f"no subscriber {email}")
        if not yes:
            click.confirm(f"delete {sub.email} and everything stored about them?", abort=True)
        store.delete_subscriber(sub.id, now=utcnow())
    finally:
        store.close()
    click.echo(f"deleted {sub.email}")


@main.command("deliveries")
@click.option(
    "--day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The readers' local day (default: today, UTC).",
)
@with_settings
def deliveries_command(settings: Settings, day: datetime | None) -> None:
    """The send ledger of one day: reader, status, attempts, message id, error.

    \b
        digest deliveries --day 2026-11-20
    """
    when = day.date() if day else utcnow().date()
    store = open_data(settings)
    try:
        ledger = store.ledger(day=when)
    finally:
        store.close()
    if not ledger:
        click.echo(f"no digests recorded for {when}")
        return
    rows = [("reader", "status", "attempts", "message id", "error")]
    for email, d in ledger:
        rows.append((email, d.status, str(d.attempts), d.message_id or "-", d.error or ""))
    print_columns(rows)
