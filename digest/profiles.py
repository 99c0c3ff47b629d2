"""Profile files: one TOML file per subscriber, or one profile for ``digest rank``.

A subscriber file holds the address, delivery preferences and ``[[profiles]]``; see
``config/profiles/example.toml``. Errors name the file, the field and the reason.
"""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import available_timezones

import tomli_w
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from digest.models import Profile


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


class ProfileFileError(ValueError):
    """A profile file that cannot be used; nothing was changed."""


class NotAscii(ValueError):
    """A valid address that is not ASCII before the @: mailing it would need SMTPUTF8,
    which digest does not send."""

    def __init__(self) -> None:
        super().__init__(
            "mail can only go to addresses that are plain ASCII before the @ "
            "(letters a to z, digits and . _ + -)"
        )


def mail_address(text: str) -> str:
    """A valid address as digest stores and mails it: lower-cased, a Unicode domain in
    its ASCII (IDNA, ``xn--``) form. Raises :class:`NotAscii` for an address that is not
    ASCII before the @, ValueError with the reason for an invalid one."""
    try:
        checked = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc
    if checked.ascii_email is None:
        raise NotAscii()
    return checked.ascii_email.lower()


class SubscriberFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)
    send_hour: int = Field(default=7, ge=0, le=23)
    timezone: str = "UTC"
    cadence: Literal["daily", "weekly"] = "daily"
    weekdays: list[int] = Field(default_factory=lambda: [0])
    channels: list[Literal["email", "rss"]] = ["email", "rss"]
    profiles: list[Profile] = Field(min_length=1, max_length=20)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return mail_address(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value != "UTC" and value not in _zones():
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like Europe/Paris)")
        return value

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if any(not 0 <= d <= 6 for d in value):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        return sorted(set(value))

    @field_validator("profiles")
    @classmethod
    def _unique(cls, value: list[Profile]) -> list[Profile]:
        names = [p.name for p in value]
        if len(set(names)) != len(names):
            raise ValueError("profile names must be unique")
        return value

    def subscriber_fields(self) -> dict[str, Any]:
        return self.model_dump(include={"send_hour", "timezone", "cadence", "weekdays", "channels"})


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ProfileFileError(f"{path}: file not found") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProfileFileError(f"{path}: not valid TOML: {exc}") from exc
    except RecursionError as exc:
        raise ProfileFileError(f"{path}: not valid TOML: nested too deeply") from exc


def _invalid(path: Path, exc: ValidationError) -> ProfileFileError:
    problems = "; ".join(f"{_where(e['loc'])}: {e['msg']}" for e in exc.errors())
    return ProfileFileError(f"{path}: {problems}")


def load_subscriber_file(path: Path) -> SubscriberFile:
    try:
        return SubscriberFile.model_validate(_read(path))
    except ValidationError as exc:
        raise _invalid(path, exc) from exc


def load_subscribers(path: Path) -> list[SubscriberFile]:
    """A subscriber file (TOML), or many subscribers as JSON Lines (``.jsonl``: one
    subscriber file's content as a JSON object per line), for bulk loads."""
    if path.suffix != ".jsonl":
        return [load_subscriber_file(path)]
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise ProfileFileError(f"{path}: file not found") from exc
    except UnicodeDecodeError as exc:
        raise ProfileFileError(f"{path}: not UTF-8: {exc}") from exc
    found = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            found.append(SubscriberFile.model_validate_json(line))
        except ValidationError as exc:
            raise _invalid(Path(f"{path}:{number}"), exc) from exc
    return found


def load_profile_file(path: Path) -> Profile:
    """One profile as top-level keys (the ``digest rank`` format)."""
    try:
        return Profile.model_validate(_read(path))
    except ValidationError as exc:
        raise _invalid(path, exc) from exc


def _profile_data(profile: Profile) -> dict[str, Any]:
    data = profile.model_dump(mode="json", exclude_defaults=True)
    data["name"] = profile.name
    if "keywords" in data:
        data["keywords"] = [
            k.phrase if k.weight == 1.0 else {"phrase": k.phrase, "weight": k.weight}
            for k in profile.keywords
        ]
    if "seed_papers" in data:
        data["seed_papers"] = [
            {k: v for k, v in s.items() if v is not None} for s in data["seed_papers"]
        ]
    return data


def dump_subscriber_file(subscriber: SubscriberFile) -> str:
    data = subscriber.model_dump(mode="json", exclude={"profiles"})
    data["profiles"] = [_profile_data(p) for p in subscriber.profiles]
    return tomli_w.dumps(data)


def dump_profile(profile: Profile) -> str:
    return tomli_w.dumps(_profile_data(profile))
