"""Sending for real: ``digest doctor`` and ``digest bounces``."""

from __future__ import annotations

import sys

import click

from digest.cli.base import ConfigProblem, main, open_data, utcnow, with_settings
from digest.cli.day import print_returns
from digest.day.returns import read_returns
from digest.day.shard import MissingSecret
from digest.doctor import checks
from digest.settings import Settings


@main.command("doctor")
@with_settings
def doctor_command(settings: Settings) -> None:
    """Check what sending for real needs: a From domain of your own, a DKIM key
    (and the DNS record to publish), https links, one-click unsubscribe, a bounce
    address and its mailbox, an SMTP relay. Exits 1 if anything is missing.

    \b
        digest doctor
    """
    found = checks(settings)
    width = max(len(c.what) for c in found)
    for check in found:
        mark = "ok " if check.ok else "FIX"
        click.echo(f"{mark}  {check.what.ljust(width)}  {check.detail}")
    missing = sum(not c.ok for c in found)
    click.echo(f"\n{missing} to fix" if missing else "\nready to send")
    sys.exit(1 if missing else 0)


@main.command("bounces")
@with_settings
def bounces_command(settings: Settings) -> None:
    """Read the bounce mailbox now (every `digest run` does it before planning):
    suppress the readers whose address bounced for good, kept bouncing, or who
    complained. `digest subscribers --suppressed` lists them.

    \b
        digest bounces
    """
    if not settings.bounces.configured:
        raise ConfigProblem(
            "neither bounces.maildir nor bounces.imap_host is set: there is no bounce "
            "mailbox to read"
        )
    store = open_data(settings)
    try:
        returns = read_returns(store, settings, now=utcnow())
    except MissingSecret as exc:
        raise ConfigProblem(str(exc)) from exc
    finally:
        store.close()
    print_returns(returns)
    sys.exit(1 if returns.error else 0)
