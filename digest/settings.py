"""Every setting, declared once: type, default and description.

Layers, lowest first: these defaults, then ``config/digest.toml`` (or the file named by
``DIGEST_CONFIG`` or ``--config``), then environment variables (``DIGEST_`` prefix,
``__`` between nested names, e.g. ``DIGEST_SMTP__HOST``).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import urlsplit

from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from digest.mailsettings import BounceSettings as BounceSettings
from digest.mailsettings import DkimSettings as DkimSettings
from digest.mailsettings import MailSettings as MailSettings
from digest.mailsettings import SmtpSettings as SmtpSettings

DEFAULT_CONFIG = Path("config/digest.toml")
PREFIX = "DIGEST_"
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+\Z")


class SettingsError(ValueError):
    """Settings that cannot be used; each line of the message names the file or the
    environment variable, the setting and what is wrong with it."""


class SourceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Short unique name, shown in reports and stored with each paper.")
    location: str = Field(description="An http(s) URL or a local file path.")
    format: Literal["feed", "hf-api", "jsonl", "hf-page"] | None = Field(
        default=None, description="Force the input format instead of detecting it."
    )
    enabled: bool = Field(default=True, description="Skip this source when false.")


class HttpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timeout: float = Field(default=20.0, gt=0, description="Seconds before a request times out.")
    retries: int = Field(default=3, ge=0, description="Retries after a 5xx answer or a timeout.")
    backoff: float = Field(
        default=1.0, ge=0, description="First retry delay in seconds; doubles each retry."
    )
    user_agent: str = Field(
        default="digest/0.1 (self-hosted research paper digest)",
        description="User-Agent header sent with every request.",
    )
    arxiv_api: str = Field(
        default="https://export.arxiv.org/api/query",
        description="The arXiv API, asked for seed papers that are not stored.",
    )


class ScheduleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    collect_cron: str = Field(
        default="0 5 * * *", description="Crontab expression (UTC) for collecting sources."
    )
    misfire_grace_time: int = Field(
        default=6 * 3600,
        ge=1,
        description="Seconds a missed job may still run late, e.g. after a restart.",
    )

    @field_validator("collect_cron")
    @classmethod
    def _crontab(cls, value: str) -> str:
        try:
            CronTrigger.from_crontab(value, timezone="UTC")
        except ValueError as exc:
            example = '"0 5 * * *"'
            raise ValueError(
                f"not a crontab expression (minute hour day month weekday, e.g. {example}): {exc}"
            ) from exc
        return value


class DaySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    engine: Literal["local", "celery"] = Field(
        default="local",
        description="Where shards run: a pool of processes on this machine, or Celery "
        "workers (`digest worker`) on any number of machines, over [celery].broker_url.",
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        description="Processes that run the day's shards (default: one per core).",
    )
    shard_size: int = Field(
        default=2000, ge=1, description="Readers per shard: a worker's memory grows with it."
    )
    claim_lease: int = Field(
        default=1800,
        ge=1,
        description="Seconds a claim on a reader's digest holds before another process "
        "may take it over (at once if its owner is a dead process on this host).",
    )
    resume_days: int = Field(
        default=7,
        ge=0,
        description="How many days back a run still finishes digests left owed by a "
        "crash or a deferral.",
    )
    replacements: Literal["followers", "all", "none"] = Field(
        default="followers",
        description="Who gets a new version of an older paper (arXiv's 'replace'): "
        "'followers', the readers who named it as a seed or liked it; 'all', anyone it "
        "matches, like a new paper; 'none', nobody.",
    )


class CelerySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    broker_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        description="Celery's broker (and result store), a Redis URL: how the day hands "
        "its shards to `digest worker` processes.",
    )
    visibility_timeout: int = Field(
        default=3600,
        ge=1,
        description="Seconds before a shard a worker took but never finished (a lost "
        "machine) is handed to another worker; keep it above day.claim_lease.",
    )
    queue: str = Field(default="digest", description="The queue the day's shards go to.")


class WebSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(
        default="http://localhost:8000",
        description="Public URL of the web app; every link in emails and feeds starts with it.",
    )
    confirm_max_age: int = Field(
        default=7 * 86400, gt=0, description="Seconds a confirmation link stays valid."
    )
    manage_max_age: int = Field(
        default=90 * 86400, gt=0, description="Seconds a manage-profile link stays valid."
    )
    feedback_max_age: int = Field(
        default=180 * 86400,
        gt=0,
        description="Seconds a feedback (thumbs up or down) link in an email or feed stays valid.",
    )
    header_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a client has to send a request's line and headers before "
        "the connection is closed.",
    )
    keep_alive_timeout: int = Field(
        default=5, ge=1, description="Seconds an idle keep-alive connection is kept open."
    )
    max_concurrency: int = Field(
        default=1000,
        ge=1,
        description="Connections and requests handled at once; beyond it a request gets 503.",
    )

    @field_validator("base_url")
    @classmethod
    def _absolute_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "must be an absolute http:// or https:// URL, such as "
                '"https://digest.example.org", since every link in a mail starts with it'
            )
        return value


class Settings(BaseSettings):
    """The whole configuration of one digest installation."""

    model_config = SettingsConfigDict(
        env_prefix="DIGEST_",
        env_nested_delimiter="__",
        toml_file=DEFAULT_CONFIG,
        extra="forbid",
    )

    data_dir: Path = Field(
        default=Path("digest-data"),
        description="Folder for the database, the Maildir outbox, feeds and previews.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default is a SQLite file digest.db in data_dir.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs every link token (secret). `digest init` writes a fresh one.",
    )
    templates_dir: Path | None = Field(
        default=None, description="Operator's template folder, tried before the shipped ones."
    )
    digest_history: int = Field(
        default=10, ge=1, description="How many past digests a personal RSS feed keeps."
    )
    feed_storage: Literal["ledger", "files", "database"] = Field(
        default="ledger",
        description="How personal feeds are made: from the send ledger when a feed is "
        "fetched (the day writes nothing more; a conditional GET costs one query), or "
        "rendered by the day into files in data_dir (one machine) or database rows "
        "(many), for sites whose feeds are fetched far more often than mailed.",
    )
    sources: list[SourceSettings] = Field(
        default_factory=list, description="The sources `digest collect` reads."
    )
    http: HttpSettings = Field(default_factory=HttpSettings, description="HTTP fetching.")
    mail: MailSettings = Field(default_factory=MailSettings, description="Outgoing mail.")
    smtp: SmtpSettings = Field(default_factory=SmtpSettings, description="SMTP server.")
    bounces: BounceSettings = Field(
        default_factory=BounceSettings, description="Bounces and complaints coming back."
    )
    dkim: DkimSettings = Field(
        default_factory=DkimSettings, description="DKIM signing of outgoing mail."
    )
    schedule: ScheduleSettings = Field(
        default_factory=ScheduleSettings, description="The long-running scheduler."
    )
    day: DaySettings = Field(default_factory=DaySettings, description="The daily run.")
    celery: CelerySettings = Field(
        default_factory=CelerySettings, description="Celery workers, for day.engine = celery."
    )
    web: WebSettings = Field(default_factory=WebSettings, description="The subscribers' web app.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @model_validator(mode="after")
    def _shared_feeds(self) -> Self:
        if self.day.engine == "celery" and self.feed_storage == "files":
            raise ValueError(
                'day.engine = "celery" needs feed_storage = "ledger" or "database": '
                "workers on other machines write feeds that the web app serves"
            )
        return self

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'digest.db'}"

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain data, secrets shown as ``**********``
        (passwords inside the database and broker URLs too)."""
        data = self.model_dump(mode="json")
        if data["database_url"]:
            data["database_url"] = hide_password(data["database_url"])
        data["celery"]["broker_url"] = hide_password(data["celery"]["broker_url"])
        return data


def hide_password(url: str) -> str:
    """``url`` with the password of its user part, if any, shown as ``**********``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    name = user.partition(":")[0]
    return parts._replace(netloc=f"{name}:**********@{host}").geturl()


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Read defaults, then the TOML file, then ``DIGEST_*`` variables, then ``overrides``.

    A file named by ``config_file`` or ``$DIGEST_CONFIG`` must exist; the default one
    may be missing. Raises :class:`SettingsError`."""
    named = os.environ.get(f"{PREFIX}CONFIG") or None
    if config_file is not None:
        path, origin = config_file, "--config"
    elif named is not None:
        path, origin = Path(named), f"${PREFIX}CONFIG"
    else:
        path, origin = DEFAULT_CONFIG, ""
    if origin and not path.is_file():
        raise SettingsError(f"config file not found: {path} (named by {origin})")

    class FileSettings(Settings):
        model_config = SettingsConfigDict(toml_file=path)

    try:
        return FileSettings(**overrides)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise SettingsError(f"{path}: cannot be read: {exc.strerror or exc}") from exc
    except ValidationError as exc:
        lines = [_explain(error, path, overrides) for error in exc.errors()]
        raise SettingsError("\n".join(lines)) from exc


def _explain(error: Any, path: Path, overrides: dict[str, Any]) -> str:
    """One line for one invalid setting: where it came from, its name, the problem."""
    loc = [str(part) for part in error["loc"]]
    name = ".".join(loc)
    where = str(path)
    for depth in range(len(loc), 0, -1):
        variable = PREFIX + "__".join(loc[:depth]).upper()
        if any(key.upper() == variable for key in os.environ):
            where = f"${variable}"
            break
    else:
        if loc and loc[0] in overrides:
            where = "given settings"
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown setting {name!r}"
    message = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    secret = "secret" in name or "password" in name
    if not secret and isinstance(value, str | int | float | bool):
        message += f" (got {value!r})"
    return f"{where}: {name}: {message}" if name else f"{where}: {message}"
