"""The nouns of the pipeline: papers, batches, profiles and scored papers."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, NamedTuple

import annotated_types
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator


@dataclass(frozen=True, slots=True)
class Paper:
    """One paper, normalised from whatever source announced it.

    ``id`` is the canonical identity (see :mod:`digest.identity`): the bare arXiv id
    without version when there is one (``2401.01234``, ``astro-ph/0601001``), else
    ``doi:…``, else the link, else ``title:<fingerprint>``.
    """

    id: str
    title: str
    abstract: str = ""
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    published: date | None = None
    url: str = ""
    source: str = ""
    doi: str | None = None
    version: int | None = None
    upvotes: int | None = None
    comment: str | None = None
    announce: str | None = None
    """How arXiv announced this version: ``new``, ``cross`` (a cross-list from another
    category) or ``replace`` (a new version of an older paper); None when the source
    does not say."""

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["authors"] = list(self.authors)
        data["categories"] = list(self.categories)
        data["published"] = self.published.isoformat() if self.published else None
        return data


@dataclass(slots=True)
class ParseResult:
    """What one source gave: the papers it could read and, if any, why it failed."""

    papers: list[Paper] = field(default_factory=list)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Batch:
    id: int
    created_at: datetime
    size: int
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceReport:
    """One line of a collect run's summary."""

    name: str
    fetched: int = 0
    new: int = 0
    updated: int = 0
    error: str | None = None
    not_modified: bool = False


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_BREAKS = re.compile(r"[\t\n\v\f\r\x1c-\x1e\x85\u2028\u2029]+")
_OTHER_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f]")
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f]")


def one_line(value: Any) -> Any:
    """Control characters out of a one-line value: each run of line breaks and tabs
    becomes a space, the others go. A profile name or keyword ends up in mail headers
    (the subject), URLs and pages, where a line break does harm, whether it came from
    a form or a file. Text without any is returned as it is."""
    if isinstance(value, str) and _CONTROL.search(value):
        return _OTHER_CONTROL.sub("", _BREAKS.sub(" ", value)).strip()
    return value


def multi_line(value: Any) -> Any:
    """Like :func:`one_line` for text that may have lines: line breaks become ``\\n``
    and tabs stay."""
    if isinstance(value, str) and _CONTROL.search(value):
        lines = value.replace("\r\n", "\n").translate(_LINE_ENDS)
        return _TEXT_CONTROL.sub("", lines).strip()
    return value


_LINE_ENDS = str.maketrans(dict.fromkeys("\r\x1c\x1d\x1e\x85\u2028\u2029", "\n"))

OneLine = Annotated[str, BeforeValidator(one_line)]
Text = Annotated[str, BeforeValidator(multi_line)]


class Status(StrEnum):
    """Where a subscriber stands: pending until they confirm, active, unsubscribed by
    their own choice, suppressed by a bounce or complaint, or deleted by the operator
    (a row kept only so that its id is never given again)."""

    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    SUPPRESSED = "suppressed"
    DELETED = "deleted"


MAX_FEEDBACK = 5000


def max_length(model: type[BaseModel], name: str) -> int:
    """The ``max_length`` a model declares for one of its fields."""
    for rule in model.model_fields[name].metadata:
        if isinstance(rule, annotated_types.MaxLen):
            return int(rule.max_length)
    raise LookupError(f"{model.__name__}.{name} declares no max_length")


"""Papers a profile keeps in each of ``liked`` and ``disliked``; the oldest go first."""


class Keyword(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    phrase: OneLine = Field(min_length=1, max_length=200)
    weight: float = Field(default=1.0, gt=0, le=10)


class SeedPaper(BaseModel):
    """A paper the reader likes: an arXiv id resolved from the store, or inline text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: OneLine | None = Field(default=None, max_length=200)
    title: OneLine | None = Field(default=None, max_length=1000)
    abstract: Text | None = Field(default=None, max_length=20000)


Cutoff = Literal["strong", "good", "any"]
"""How relevant a paper must be to reach a digest: ``strong`` matches only, ``good``
ones and better (the default), or ``any`` paper that matched the profile at all, up to
``max_papers``. See :data:`digest.score.profile.CUTOFFS`."""


class Profile(BaseModel):
    """One named research interest of a subscriber."""

    model_config = ConfigDict(extra="forbid")

    name: OneLine = Field(min_length=1, max_length=100)
    keywords: list[Keyword] = Field(default_factory=list, max_length=200)
    exclude: list[OneLine] = Field(default_factory=list, max_length=200)
    authors: list[OneLine] = Field(default_factory=list, max_length=200)
    categories: list[OneLine] = Field(default_factory=list, max_length=100)
    seed_papers: list[SeedPaper] = Field(default_factory=list, max_length=500)
    max_papers: int = Field(default=20, ge=1, le=200)
    min_score: float = Field(default=0.0, ge=0)
    cutoff: Cutoff = "good"
    liked: list[str] = Field(default_factory=list, max_length=MAX_FEEDBACK)
    disliked: list[str] = Field(default_factory=list, max_length=MAX_FEEDBACK)

    @field_validator("keywords", mode="before")
    @classmethod
    def _plain_keywords(cls, value: Any) -> Any:
        """Allow ``keywords = ["a", {phrase = "b", weight = 2}]``."""
        if isinstance(value, list):
            return [{"phrase": v} if isinstance(v, str) else v for v in value]
        return value


class ScoredPaper(NamedTuple):
    """One pick: a paper, its score for a profile, and why it was picked. A named
    tuple, not a frozen dataclass: a daily run makes millions, and a frozen
    dataclass costs several times as much to build."""

    paper: Paper
    score: float
    why: str
    profile: str = ""


@dataclass(frozen=True, slots=True)
class DigestSection:
    """The papers one profile contributes to a digest, best first."""

    profile: str
    papers: tuple[ScoredPaper, ...]


@dataclass(frozen=True, slots=True)
class Links:
    """Signed, per-subscriber URLs; built by the caller, rendered as given.

    A paper's feedback link is ``links.feedback_url(feedback, vote, profile, paper id)``.
    """

    manage: str
    unsubscribe: str
    feed: str
    archive: str
    feedback: str


@dataclass(frozen=True, slots=True)
class Digest:
    """Everything one subscriber receives on one day, decided before anything is written."""

    email: str
    day: date
    sections: tuple[DigestSection, ...]
    links: Links
    note: str = ""
    """Why the digest is empty or short (see :mod:`digest.day.quiet`); usually empty."""

    @property
    def size(self) -> int:
        return sum(len(s.papers) for s in self.sections)


@dataclass(frozen=True, slots=True)
class Subscriber:
    """A reader: where and when the digest goes. ``status`` is pending, active or
    unsubscribed; ``last_batch_id`` is the newest batch their last digest covered."""

    id: int
    email: str
    status: str = Status.PENDING
    send_hour: int = 7
    timezone: str = "UTC"
    cadence: str = "daily"
    weekdays: tuple[int, ...] = (0,)
    channels: tuple[str, ...] = ("email", "rss")
    last_batch_id: int | None = None
    created_at: datetime | None = None
    confirmed_at: datetime | None = None
