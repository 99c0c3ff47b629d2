"""What every command shares: the ``digest`` group, the ``--config`` option, the clock."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from digest.day.shard import open_store
from digest.settings import DEFAULT_CONFIG, Settings, SettingsError, load_settings
from digest.store import Store

F = TypeVar("F", bound=Callable[..., Any])

console = Console(stderr=True)


class ConfigProblem(click.ClickException):
    """Settings, or the setup they describe, that a command cannot run with: exit 2,
    like a wrong option, so that it is told apart from a day that failed (exit 1)."""

    exit_code = 2


def utcnow() -> datetime:
    """Naive UTC, as stored in the database."""
    return datetime.now(UTC).replace(tzinfo=None)


def warn(message: str) -> None:
    """One line on stderr about input that was used after a change or skipped."""
    click.echo(f"warning: {message}", err=True)


def print_columns(rows: Sequence[Sequence[str]]) -> None:
    """Rows as aligned columns, nothing cut: the last column runs on."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[-1]]).rstrip())


def need_data(settings: Settings) -> None:
    """Refuse to run on a data folder that `digest init` has not made: a command run
    from the wrong folder, or with the wrong config, would start an empty one."""
    if not settings.data_dir.is_dir():
        raise ConfigProblem(
            f"no data folder at {settings.data_dir.resolve()}: run `digest init` "
            "(or point data_dir at the existing one)"
        )


def open_data(settings: Settings) -> Store:
    """The store of a data folder made by `digest init`."""
    need_data(settings)
    return open_store(settings)


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
        except SettingsError as exc:
            raise ConfigProblem(str(exc)) from exc
        # the scheduler's jobs load their settings again, from the same file
        click.get_current_context().meta["digest.config_file"] = config_file
        return func(*args, settings=settings, **kwargs)

    return wrapper  # type: ignore[return-value]


@click.group()
@click.version_option(package_name="digest")
def main() -> None:
    """A self-hosted, personalised daily digest of new research papers."""


def config_file() -> Path | None:
    found: Path | None = click.get_current_context().meta.get("digest.config_file")
    return found
