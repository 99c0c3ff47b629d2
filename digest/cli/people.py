"""The readers: ``digest profile import`` and ``digest profile export``."""

from __future__ import annotations

from pathlib import Path

import click

from digest import accounts
from digest.cli.base import main, open_data, utcnow, with_settings
from digest.profiles import ProfileFileError, dump_subscriber_file, load_subscribers
from digest.settings import Settings


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
