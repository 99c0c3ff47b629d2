"""Setting up: ``digest init``, ``digest config`` and ``digest demo``."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import click

from digest.cli.base import ConfigProblem, main, utcnow, with_settings
from digest.cli.day import print_day
from digest.day import demo as demos
from digest.day.shard import open_store
from digest.resources import shipped
from digest.settings import DEFAULT_CONFIG, Settings, SettingsError, hide_password

EXAMPLE_PROFILE = DEFAULT_CONFIG.parent / "profiles" / "example.toml"


@main.command()
@with_settings
def init(settings: Settings) -> None:
    """Create the data folder, the database and, if missing, config/digest.toml
    and config/profiles/example.toml.

    The new config file is the commented example with a freshly generated
    secret_key; the example profile file documents a reader's file.

    \b
        digest init
    """
    store = open_store(settings)
    store.close()
    click.echo(f"database ready: {hide_password(settings.db_url)}")
    if not DEFAULT_CONFIG.exists():
        DEFAULT_CONFIG.parent.mkdir(parents=True, exist_ok=True)
        text = (shipped("config") / "digest.example.toml").read_text(encoding="utf-8")
        key = secrets.token_urlsafe(32)
        DEFAULT_CONFIG.write_text(
            text.replace('# secret_key = "…"', f'secret_key = "{key}"'), encoding="utf-8"
        )
        DEFAULT_CONFIG.chmod(0o600)
        click.echo(f"wrote {DEFAULT_CONFIG} (with a new secret_key)")
    if not EXAMPLE_PROFILE.exists():
        EXAMPLE_PROFILE.parent.mkdir(parents=True, exist_ok=True)
        example = shipped("config") / "profiles" / "example.toml"
        EXAMPLE_PROFILE.write_text(example.read_text(encoding="utf-8"), encoding="utf-8")
        click.echo(
            f"wrote {EXAMPLE_PROFILE} (copy it for each reader, then `digest profile import`)"
        )


@main.command("config")
@with_settings
def show_config(settings: Settings) -> None:
    """Print the effective settings as JSON, secrets masked.

    \b
        DIGEST_SMTP__HOST=mail.example.org digest config
    """
    click.echo(json.dumps(settings.masked(), indent=2))


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

    \b
        digest demo
    """
    try:
        report = demos.demo(folder, now=utcnow(), on_source=None)
    except SettingsError as exc:
        raise ConfigProblem(str(exc)) from exc
    print_day(report.day)
    click.echo(f"\ndata folder:     {report.data_dir}")
    click.echo(f"Maildir outbox:  {report.outbox}  ({report.messages} messages in new/)")
    for path in report.feeds:
        click.echo(f"RSS feed:        {path}")
    click.echo(f"HTML preview:    {report.preview}")
    click.echo(f"\nopen the preview: python3 -m webbrowser file://{report.preview.resolve()}")
