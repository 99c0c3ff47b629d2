"""Profile files: one TOML file per subscriber, or one profile for ``digest rank``.

A subscriber file holds the address, delivery preferences and ``[[profiles]]``; see
``config/profiles/example.toml``. Errors name the file, the field and the reason.

Seed papers' text is often pasted from elsewhere (a reference manager's page, with
junk around the abstract), so a seed paper's title or abstract beyond the model's
limits is cut to them with a warning rather than refusing the whole file; any other
field beyond its limits is refused. The web form keeps the limits as they are.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar
from zoneinfo import available_timezones

import tomli_w
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from digest.models import Profile

log = logging.getLogger("digest.profiles")

Warn = Callable[[str], None]
"""Where a loader says what it changed in a file it accepted (one line each)."""

_Model = TypeVar("_Model", bound=BaseModel)

_CUT_FIELDS = frozenset({"title", "abstract"})


@functools.cache
def time_zones() -> frozenset[str]:
    """The IANA time zone names this machine knows, and UTC (read once: listing them
    walks the time zone database)."""
    return frozenset(available_timezones()) | {"UTC"}


def valid_timezone(name: str) -> bool:
    return name in time_zones()


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
        if not valid_timezone(value):
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


def _cut_seed_text(data: Any, exc: ValidationError) -> tuple[Any, list[str]]:
    """``data`` with each seed paper's title or abstract that ``exc`` found too long cut
    to its limit, and a line saying so for each; other errors are left alone."""
    fixed = None
    said = []
    for error in exc.errors():
        loc = error["loc"]
        if (
            error["type"] not in ("string_too_long", "too_long")
            or len(loc) < 3
            or loc[-1] not in _CUT_FIELDS
            or loc[-3] != "seed_papers"
        ):
            continue
        if fixed is None:
            fixed = copy.deepcopy(data)
        holder = fixed
        for part in loc[:-1]:
            holder = holder[part]
        value, limit = holder[loc[-1]], int((error.get("ctx") or {})["max_length"])
        if not isinstance(value, str):
            continue
        holder[loc[-1]] = value[:limit]
        said.append(f"{_where(loc)}: cut from {len(value):,} to {limit:,} characters")
    return (data if fixed is None else fixed), said


def _validate(model: type[_Model], data: Any, path: Path, warn: Warn) -> _Model:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fixed, said = _cut_seed_text(data, exc)
        if not said:
            raise _invalid(path, exc) from exc
    try:
        valid = model.model_validate(fixed)
    except ValidationError as exc:
        raise _invalid(path, exc) from exc
    for line in said:
        warn(f"{path}: {line}")
    return valid


def load_subscriber_file(path: Path, *, warn: Warn = log.warning) -> SubscriberFile:
    return _validate(SubscriberFile, _read(path), path, warn)


def load_subscribers(path: Path, *, warn: Warn = log.warning) -> list[SubscriberFile]:
    """A subscriber file (TOML), or many subscribers as JSON Lines (``.jsonl``: one
    subscriber file's content as a JSON object per line), for bulk loads."""
    if path.suffix != ".jsonl":
        return [load_subscriber_file(path, warn=warn)]
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
        where = Path(f"{path}:{number}")
        try:
            found.append(SubscriberFile.model_validate_json(line))
            continue
        except ValidationError as exc:
            if exc.errors()[0]["type"] == "json_invalid":
                raise _invalid(where, exc) from exc
        # the slower way, only for a line that needs cutting or explaining
        found.append(_validate(SubscriberFile, json.loads(line), where, warn))
    return found


def load_profile_file(path: Path, name: str | None = None, *, warn: Warn = log.warning) -> Profile:
    """The profile ``digest rank`` ranks for: a file of one profile as top-level keys,
    or a subscriber file, whose profile called ``name`` (default: the first) is taken."""
    data = _read(path)
    if "profiles" in data:
        profiles = _validate(SubscriberFile, data, path, warn).profiles
        if name is None:
            return profiles[0]
        for profile in profiles:
            if profile.name == name:
                return profile
        known = ", ".join(repr(p.name) for p in profiles)
        raise ProfileFileError(f"{path}: no profile named {name!r} (there are {known})")
    profile = _validate(Profile, data, path, warn)
    if name is not None and profile.name != name:
        raise ProfileFileError(
            f"{path}: no profile named {name!r} (the file's is {profile.name!r})"
        )
    return profile


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
    if subscriber.cadence == "daily":
        del data["weekdays"]  # read only for weekly readers
    data["profiles"] = [_profile_data(p) for p in subscriber.profiles]
    return tomli_w.dumps(data)


def dump_profile(profile: Profile) -> str:
    return tomli_w.dumps(_profile_data(profile))
