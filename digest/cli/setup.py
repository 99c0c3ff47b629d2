"""Setting up: ``digest init``, ``digest config`` and ``digest demo``."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import click

from digest.cli.base import ConfigProblem, config_file, main, utcnow, with_settings
from digest.cli.day import print_day
from digest.day import demo as demos
from digest.day.shard import open_store
from digest.resources import shipped
from digest.settings import DEFAULT_CONFIG, Settings, SettingsError, hide_password
from digest.signing import KeyKind, SigningKeyError, load_key, write_key, zone_entry

EXAMPLE_PROFILE = DEFAULT_CONFIG.parent / "profiles" / "example.toml"


@main.command()
@click.option(
    "--dkim",
    type=click.Choice(["rsa", "ed25519"]),
    default=None,
    help="Also make a DKIM key (at dkim.key_file, or config/dkim/<selector>.pem) and "
    "print the DNS record to publish. RSA is what every receiver verifies.",
)
@with_settings
def init(settings: Settings, dkim: KeyKind | None) -> None:
    """Create the data folder, the database and, if missing, config/digest.toml
    and config/profiles/example.toml (not with --config: that file is the config).

    The new config file is the commented example with a freshly generated
    secret_key; the example profile file documents a reader's file. With --dkim,
    a signing key too, and the TXT record to publish for it.

    \b
        digest init
        digest init --dkim rsa
    """
    store = open_store(settings)
    store.close()
    click.echo(f"database ready: {hide_password(settings.db_url)}")
    if config_file() is not None:
        return
    if not DEFAULT_CONFIG.exists():
        DEFAULT_CONFIG.parent.mkdir(parents=True, exist_ok=True)
        text = (shipped("config") / "digest.example.toml").read_text(encoding="utf-8")
        key = secrets.token_urlsafe(32)
        text = text.replace('# secret_key = "…"', f'secret_key = "{key}"')
        if dkim is not None and settings.dkim.key_file is None:
            text = text.replace(
                '# key_file = "config/dkim/digest.pem"',
                f'key_file = "{_dkim_path(settings)}"',
            )
        DEFAULT_CONFIG.write_text(text, encoding="utf-8")
        DEFAULT_CONFIG.chmod(0o600)
        click.echo(f"wrote {DEFAULT_CONFIG} (with a new secret_key)")
    if not EXAMPLE_PROFILE.exists():
        EXAMPLE_PROFILE.parent.mkdir(parents=True, exist_ok=True)
        example = shipped("config") / "profiles" / "example.toml"
        EXAMPLE_PROFILE.write_text(example.read_text(encoding="utf-8"), encoding="utf-8")
        click.echo(
            f"wrote {EXAMPLE_PROFILE} (copy it for each reader, then `digest profile import`)"
        )
    if dkim is not None:
        _init_dkim(settings, dkim)


def _dkim_path(settings: Settings) -> Path:
    return (
        settings.dkim.key_file or DEFAULT_CONFIG.parent / "dkim" / f"{settings.dkim.selector}.pem"
    )


def _init_dkim(settings: Settings, kind: KeyKind) -> None:
    """Make the key unless there is one, and say what to publish."""
    path = _dkim_path(settings)
    if path.exists():
        click.echo(f"DKIM key already at {path}: kept")
        try:
            key = load_key(settings.dkim.model_copy(update={"key_file": path}))
        except SigningKeyError as exc:
            raise ConfigProblem(str(exc)) from exc
        assert key is not None
    else:
        key = write_key(path, settings.dkim.selector, kind)
        click.echo(f"wrote {path} (a new {kind} DKIM key; keep it private)")
    named = DEFAULT_CONFIG.exists() and f'key_file = "{path}"' in DEFAULT_CONFIG.read_text(
        encoding="utf-8"
    )
    if settings.dkim.key_file is None and not named:
        click.echo(f'add to {DEFAULT_CONFIG}:  [dkim] key_file = "{path}"')
    domain = settings.dkim.domain or settings.mail.from_address.rpartition("@")[2]
    click.echo(f"publish this TXT record in the DNS of {domain}:")
    click.echo(zone_entry(key, domain))


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
    click.echo(f"DKIM:            every message signed; the key to publish: {report.dkim_record}")
    click.echo("Return-Path:     each message's first line: its reader's own bounce address")
    for path in report.feeds:
        click.echo(f"RSS feed:        {path}")
    click.echo(f"HTML preview:    {report.preview}")
    click.echo(f"\nopen the preview: python3 -m webbrowser file://{report.preview.resolve()}")
