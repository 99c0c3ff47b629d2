"""Reading the manage form: a reader's profiles and settings, as typed, in and out.

Pure functions, no I/O except the seed-paper lookup passed in as a callable. Errors
are keyed by the form field's name (``p0.keywords``, ``send_hour``…); a form with any
error saves nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from digest.accounts import SeedLookupError
from digest.identity import parse_arxiv_id
from digest.models import Keyword, Profile, SeedPaper
from digest.web.forms import (
    CATEGORY,
    CHANNELS,
    LINE_SPLIT,
    LIST_SPLIT,
    MAX_NAME,
    MAX_PHRASE,
    MAX_PROFILES,
    MAX_TEXTAREA,
    SEED_SPLIT,
    WEIGHT,
    Errors,
    Form,
    many,
    one,
    read_hour,
    read_zone,
    small_number,
    split,
)


@dataclass(slots=True)
class ProfileFields:
    """One profile as the form shows it: strings, exactly as typed."""

    original: str = ""
    name: str = ""
    keywords: str = ""
    exclude: str = ""
    authors: str = ""
    categories: str = ""
    seeds: str = ""
    max_papers: str = "20"
    cutoff: str = "good"
    delete: bool = False
    inline_seeds: list[SeedPaper] = field(default_factory=list)
    keep_inline: list[int] = field(default_factory=list)
    liked: list[str] = field(default_factory=list)  # shown, not edited: 👍/👎 feedback
    disliked: list[str] = field(default_factory=list)

    @property
    def blank(self) -> bool:
        return not any(
            (self.name, self.keywords, self.exclude, self.authors, self.categories, self.seeds)
        )


@dataclass(slots=True)
class SettingsFields:
    send_hour: str = "7"
    timezone: str = "UTC"
    cadence: str = "daily"
    weekdays: list[str] = field(default_factory=lambda: ["0"])
    channels: list[str] = field(default_factory=lambda: list(CHANNELS))


@dataclass(slots=True)
class ManageForm:
    profiles: list[ProfileFields]
    settings: SettingsFields
    errors: Errors = field(default_factory=dict)


def _keyword_text(keyword: Keyword) -> str:
    return keyword.phrase if keyword.weight == 1.0 else f"{keyword.phrase} ^{keyword.weight:g}"


def fields_from_profile(profile: Profile) -> ProfileFields:
    inline = [s for s in profile.seed_papers if not s.id]
    return ProfileFields(
        original=profile.name,
        name=profile.name,
        keywords="\n".join(_keyword_text(k) for k in profile.keywords),
        exclude="\n".join(profile.exclude),
        authors="\n".join(profile.authors),
        categories=", ".join(profile.categories),
        seeds="\n".join(s.id for s in profile.seed_papers if s.id),
        max_papers=str(profile.max_papers),
        cutoff=profile.cutoff,
        inline_seeds=inline,
        keep_inline=list(range(len(inline))),
        liked=list(profile.liked),
        disliked=list(profile.disliked),
    )


def manage_form(
    profiles: Sequence[Profile],
    *,
    send_hour: int,
    timezone: str,
    cadence: str,
    weekdays: Sequence[int],
    channels: Sequence[str],
) -> ManageForm:
    """The stored state as a form, with one empty profile at the end to add another."""
    rows = [fields_from_profile(p) for p in profiles]
    if len(rows) < MAX_PROFILES:
        rows.append(ProfileFields(max_papers="20"))
    return ManageForm(
        profiles=rows,
        settings=SettingsFields(
            send_hour=str(send_hour),
            timezone=timezone,
            cadence=cadence,
            weekdays=[str(d) for d in weekdays],
            channels=list(channels),
        ),
    )


def read_manage_form(form: Form, stored: Sequence[Profile]) -> ManageForm:
    """The posted form as typed; inline seed papers come from the stored profile the
    row started from, since the form only says which of them to keep."""
    by_name = {p.name: p for p in stored}
    count_text = one(form, "profile_count")
    count = min(small_number(count_text) or 0, MAX_PROFILES + 1)
    rows: list[ProfileFields] = []
    for i in range(count):
        key = f"p{i}."
        original = one(form, key + "original")[:MAX_NAME]
        source = by_name.get(original)
        inline = [s for s in source.seed_papers if not s.id] if source else []
        keep = [n for v in many(form, key + "keep_inline") if (n := small_number(v)) is not None]
        rows.append(
            ProfileFields(
                original=original if source else "",
                name=one(form, key + "name"),
                keywords=one(form, key + "keywords"),
                exclude=one(form, key + "exclude"),
                authors=one(form, key + "authors"),
                categories=one(form, key + "categories"),
                seeds=one(form, key + "seeds"),
                max_papers=one(form, key + "max_papers") or "20",
                cutoff=one(form, key + "cutoff") or "good",
                delete=one(form, key + "delete") == "1",
                inline_seeds=inline,
                keep_inline=[k for k in keep if 0 <= k < len(inline)],
            )
        )
    return ManageForm(
        profiles=rows,
        settings=SettingsFields(
            send_hour=one(form, "send_hour"),
            timezone=one(form, "timezone"),
            cadence=one(form, "cadence"),
            weekdays=many(form, "weekdays"),
            channels=many(form, "channels"),
        ),
    )


SeedResolver = Callable[[list[str]], tuple[list[str], list[str]]]
"""Given arXiv ids, returns (ids that are known or were fetched, ids not found)."""


@dataclass(frozen=True, slots=True)
class ManageResult:
    profiles: list[Profile]
    subscriber_fields: dict[str, Any]


def _too_long(text: str, key: str, errors: Errors, limit: int = MAX_TEXTAREA) -> bool:
    if len(text) > limit:
        errors[key] = f"Too long: at most {limit} characters."
        return True
    return False


def _keywords(text: str, key: str, errors: Errors) -> list[Keyword]:
    out: list[Keyword] = []
    for item in split(text, LIST_SPLIT):
        phrase, weight = item, 1.0
        match = WEIGHT.match(item)
        if match:
            phrase, weight = match["phrase"], float(match["weight"])
            if not 0 < weight <= 10:
                errors[key] = f"A weight goes from above 0 up to 10: “{item}”."
                return []
        if not phrase or len(phrase) > MAX_PHRASE:
            errors[key] = f"Each keyword has 1 to {MAX_PHRASE} characters."
            return []
        out.append(Keyword(phrase=phrase, weight=weight))
    return out


def _phrases(text: str, key: str, errors: Errors, pattern: re.Pattern[str]) -> list[str]:
    items = split(text, pattern)
    if any(len(i) > MAX_PHRASE for i in items):
        errors[key] = f"Each entry has at most {MAX_PHRASE} characters."
        return []
    return items


def _categories(text: str, key: str, errors: Errors) -> list[str]:
    items = split(text, re.compile(r"[\s,;]+"))
    bad = [c for c in items if not CATEGORY.match(c) or len(c) > 50]
    if bad:
        errors[key] = f"Not a category name: “{bad[0][:50]}” (use names like cs.LG or stat)."
        return []
    return items


def _seed_ids(text: str, key: str, errors: Errors) -> list[str]:
    ids: list[str] = []
    for item in split(text, SEED_SPLIT):
        found = parse_arxiv_id(item)
        if found is None:
            errors[key] = f"Not an arXiv id or link: “{item[:80]}”."
            return []
        ids.append(found[0])
    return list(dict.fromkeys(ids))


def _max_papers(text: str, key: str, errors: Errors) -> int:
    number = small_number(text)
    if number is None or not 1 <= number <= 200:
        errors[key] = "Choose a number from 1 to 200."
        return 20
    return number


CUTOFF_CHOICES = {
    "strong": "Only strong matches",
    "good": "Good matches and better",
    "any": "Anything that matched, up to the maximum",
}
"""The manage page's words for each :data:`digest.models.Cutoff`."""


def _cutoff(text: str, key: str, errors: Errors) -> str:
    if text not in CUTOFF_CHOICES:
        errors[key] = "Choose one of the listed options."
        return "good"
    return text


_MODEL_FIELDS = {"seed_papers": "seeds"}


def _pydantic_errors(exc: ValidationError, key: str, errors: Errors) -> None:
    """Limits the model enforces (how many keywords…) shown next to their field."""
    for problem in exc.errors():
        field = str(problem["loc"][0]) if problem["loc"] else "name"
        name = key + _MODEL_FIELDS.get(field, field)
        errors.setdefault(name, f"{problem['msg']}.")


def validate_manage(
    form: ManageForm, stored: Sequence[Profile], resolve: SeedResolver
) -> ManageResult | None:
    """Turn the form into profiles and subscriber settings; on any error fill
    ``form.errors`` and return None. Feedback (liked, disliked) and the score floor
    travel with a profile through renames, since the form does not show them."""
    errors = form.errors
    by_name = {p.name: p for p in stored}
    built: list[tuple[str, Profile]] = []
    wanted_seeds: dict[str, list[str]] = {}
    for i, row in enumerate(form.profiles):
        key = f"p{i}."
        if row.delete or (row.blank and not row.original):
            continue
        if any(
            _too_long(getattr(row, f), key + f, errors)
            for f in ("keywords", "exclude", "authors", "categories", "seeds")
        ):
            continue
        if not row.name:
            errors[key + "name"] = "Give this profile a name."
            continue
        if len(row.name) > MAX_NAME:
            errors[key + "name"] = f"A name has at most {MAX_NAME} characters."
            continue
        seeds = _seed_ids(row.seeds, key + "seeds", errors)
        wanted_seeds[key + "seeds"] = seeds
        before = by_name.get(row.original)
        data: dict[str, Any] = {
            "name": row.name,
            "keywords": _keywords(row.keywords, key + "keywords", errors),
            "exclude": _phrases(row.exclude, key + "exclude", errors, LIST_SPLIT),
            "authors": _phrases(row.authors, key + "authors", errors, LINE_SPLIT),
            "categories": _categories(row.categories, key + "categories", errors),
            "seed_papers": [SeedPaper(id=s) for s in seeds]
            + [row.inline_seeds[k] for k in row.keep_inline],
            "max_papers": _max_papers(row.max_papers, key + "max_papers", errors),
            "cutoff": _cutoff(row.cutoff, key + "cutoff", errors),
        }
        if before is not None:
            data.update(min_score=before.min_score, liked=before.liked, disliked=before.disliked)
        try:
            built.append((key, Profile.model_validate(data)))
        except ValidationError as exc:
            _pydantic_errors(exc, key, errors)
    seen_names: set[str] = set()
    for key, profile in built:
        if profile.name in seen_names:
            errors[key + "name"] = "Two profiles cannot have the same name."
        seen_names.add(profile.name)
    if not built and not errors:
        errors["profiles"] = "Keep at least one profile; to stop the digest, unsubscribe."
    if len(built) > MAX_PROFILES:
        errors["profiles"] = f"At most {MAX_PROFILES} profiles."
    fields = _settings(form.settings, errors)
    all_ids = sorted({s for ids in wanted_seeds.values() for s in ids})
    if all_ids and not errors:
        try:
            missing = set(resolve(all_ids)[1])
            said = "Not found on arXiv: "
        except SeedLookupError:
            # an outage is not a wrong id: say so, and let them try again
            missing = set(all_ids)
            said = "arXiv could not be reached just now to check these; try again later: "
        for key, ids in wanted_seeds.items():
            lost = [s for s in ids if s in missing]
            if lost:
                errors[key] = said + ", ".join(lost)
    if errors:
        return None
    return ManageResult([p for _, p in built], fields)


def _settings(values: SettingsFields, errors: Errors) -> dict[str, Any]:
    hour = read_hour(values.send_hour, errors)
    zone = read_zone(values.timezone, errors)
    if values.cadence not in ("daily", "weekly"):
        errors["cadence"] = "Choose daily or weekly."
    days = sorted({n for d in values.weekdays if (n := small_number(d, 1)) is not None and n <= 6})
    if len(days) != len(set(values.weekdays)):
        errors["weekdays"] = "Unknown weekday."
    elif values.cadence == "weekly" and not days:
        errors["weekdays"] = "Choose at least one day for a weekly digest."
    channels = [c for c in CHANNELS if c in values.channels]
    if len(channels) != len(set(values.channels)):
        errors["channels"] = "Unknown channel."
    elif not channels:
        errors["channels"] = "Choose email, RSS or both; to stop the digest, unsubscribe."
    return {
        "send_hour": hour,
        "timezone": zone,
        "cadence": values.cadence,
        "weekdays": tuple(days or [0]),
        "channels": tuple(channels),
    }
