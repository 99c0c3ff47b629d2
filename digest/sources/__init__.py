"""Where papers come from: a local file or a URL, in any of the supported formats.

Every source kind satisfies :class:`Source`; the formats themselves are parsed by the
pure functions in :mod:`digest.sources.formats`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

from digest.fetch import fetch
from digest.models import ParseResult
from digest.settings import HttpSettings, SourceSettings
from digest.sources.formats import parse
from digest.store import Validators


@dataclass(frozen=True, slots=True)
class Fetched:
    """A source's answer: what it parsed, and the validators to keep for next time."""

    result: ParseResult
    validators: Validators | None = None
    not_modified: bool = False


class Source(Protocol):
    name: str
    location: str

    def fetch(self, validators: Validators | None) -> Fetched: ...


@dataclass(slots=True)
class FileSource:
    """A local file: a feed saved to disk, a JSON Lines batch, a pasted page."""

    name: str
    location: str
    format: str | None = None

    def fetch(self, validators: Validators | None) -> Fetched:
        data = Path(self.location).expanduser().read_bytes()
        return Fetched(parse(data, source=self.name, format=self.format))


@dataclass(slots=True)
class HttpSource:
    """A URL, fetched with conditional GET; 304 means nothing new."""

    name: str
    location: str
    http: HttpSettings
    format: str | None = None
    client: httpx.Client | None = None

    def fetch(self, validators: Validators | None) -> Fetched:
        answer = fetch(self.location, http=self.http, validators=validators, client=self.client)
        if answer.not_modified:
            return Fetched(ParseResult(), validators=validators, not_modified=True)
        result = parse(answer.body, source=self.name, format=self.format)
        return Fetched(result, validators=answer.validators)


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def make_source(
    config: SourceSettings, http: HttpSettings, client: httpx.Client | None = None
) -> Source:
    if is_url(config.location):
        return HttpSource(config.name, config.location, http, config.format, client)
    return FileSource(config.name, config.location, config.format)
