"""Reading the web forms: raw strings in, validated models or per-field errors out.

Pure functions, no I/O except the seed-paper lookup passed in as a callable, so every
rule about what a subscriber may type is testable without HTTP. Errors are keyed by the
form field's name (``email``, ``p0.keywords``, ``send_hour``…) so a page can show each
one next to its field; a form with any error saves nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from digest.identity import parse_arxiv_id
from digest.models import Keyword, Profile, SeedPaper, max_length
from digest.profiles import NotAscii, mail_address, time_zones, valid_timezone

MAX_EMAIL = 254
MAX_INTERESTS = 2000
MAX_INTEREST_ITEMS = 50
# the forms' limits are the models' own, so a form never accepts what cannot be stored
MAX_TEXTAREA = max_length(SeedPaper, "abstract")
MAX_NAME = max_length(Profile, "name")
MAX_PHRASE = max_length(Keyword, "phrase")
MAX_PROFILES = 20
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
CHANNELS = ("email", "rss")
FIRST_PROFILE = "main"

LIST_SPLIT = re.compile(r"[\n,;]+")
LINE_SPLIT = re.compile(r"[\n;]+")
SEED_SPLIT = re.compile(r"[\s,;]+")
WEIGHT = re.compile(r"^(?P<phrase>.*?)\s*\^\s*(?P<weight>\d+(?:\.\d+)?)$")
CATEGORY = re.compile(r"^[A-Za-z][A-Za-z\-]*(?:\.[A-Za-z][A-Za-z\-]*)?$")
URLISH = re.compile(r"^(?:https?://|www\.)", re.IGNORECASE)

Errors = dict[str, str]
Form = Mapping[str, str | list[str]]


@cache
def timezone_names() -> tuple[str, ...]:
    return tuple(sorted(time_zones()))


def one(form: Form, name: str) -> str:
    value = form.get(name, "")
    if isinstance(value, list):
        value = value[0] if value else ""
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


def many(form: Form, name: str) -> list[str]:
    value = form.get(name, [])
    return [value] if isinstance(value, str) else list(value)


def split(text: str, pattern: re.Pattern[str]) -> list[str]:
    """Non-empty items, whitespace collapsed, first spelling of each kept."""
    seen: dict[str, str] = {}
    for raw in pattern.split(text):
        item = " ".join(raw.split())
        if item and item.casefold() not in seen:
            seen[item.casefold()] = item
    return list(seen.values())


def small_number(text: str, digits: int = 3) -> int | None:
    """``text`` as a number if it is a few ASCII digits, else None: ``isdigit`` alone
    lets through "²" and 5,000-digit strings, on which ``int`` raises."""
    if text.isascii() and text.isdigit() and len(text) <= digits:
        return int(text)
    return None


def read_hour(text: str, errors: Errors, name: str = "send_hour") -> int:
    hour = small_number(text)
    if hour is None or not 0 <= hour <= 23:
        errors[name] = "Choose an hour from 0 to 23."
        return 0
    return hour


def read_zone(text: str, errors: Errors, name: str = "timezone") -> str:
    zone = text or "UTC"
    if len(zone) > 64 or not valid_timezone(zone):
        errors[name] = f"Unknown time zone “{zone[:64]}”; use a name like Europe/Paris."
    return zone


# subscribe ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subscription:
    """A valid subscribe form: who, when, and the first profile."""

    email: str
    send_hour: int
    timezone: str
    profile: Profile


def parse_email(text: str, errors: Errors) -> str:
    if not text:
        errors["email"] = "Enter your email address."
        return ""
    if len(text) > MAX_EMAIL:
        errors["email"] = f"An email address has at most {MAX_EMAIL} characters."
        return ""
    try:
        return mail_address(text)
    except NotAscii as exc:
        reason = str(exc)
        errors["email"] = f"{reason[:1].upper()}{reason[1:]}; please use another address."
    except ValueError as exc:
        errors["email"] = f"This is not a valid email address: {exc}"
    return ""


def parse_interests(text: str, errors: Errors, name: str = "interests") -> Profile | None:
    """Keywords, arXiv ids and arXiv links, separated by commas or new lines."""
    if len(text) > MAX_INTERESTS:
        errors[name] = f"Keep this under {MAX_INTERESTS} characters; add more later."
        return None
    items = split(text, LIST_SPLIT)
    if not items:
        errors[name] = "Give at least one keyword or arXiv paper to start with."
        return None
    if len(items) > MAX_INTEREST_ITEMS:
        errors[name] = f"At most {MAX_INTEREST_ITEMS} items to start with; add more later."
        return None
    keywords: list[Keyword] = []
    seeds: list[SeedPaper] = []
    for item in items:
        found = parse_arxiv_id(item)
        if found is not None:
            seeds.append(SeedPaper(id=found[0]))
        elif URLISH.match(item):
            errors[name] = f"Only arXiv links are understood, not “{item[:80]}”."
            return None
        elif len(item) > MAX_PHRASE:
            errors[name] = f"A keyword has at most {MAX_PHRASE} characters."
            return None
        else:
            keywords.append(Keyword(phrase=item))
    return Profile(name=FIRST_PROFILE, keywords=keywords, seed_papers=unique_seeds(seeds))


def parse_subscribe(form: Form) -> tuple[Subscription | None, Errors]:
    errors: Errors = {}
    email = parse_email(one(form, "email"), errors)
    profile = parse_interests(one(form, "interests"), errors)
    hour = read_hour(one(form, "send_hour"), errors)
    zone = read_zone(one(form, "timezone"), errors)
    if errors or profile is None:
        return None, errors
    return Subscription(email, hour, zone, profile), errors


def subscribe_values(form: Form) -> dict[str, str]:
    """What the visitor typed, to put back into the form next to the errors."""
    return {
        "email": one(form, "email")[: MAX_EMAIL + 50],
        "interests": one(form, "interests")[: MAX_INTERESTS + 200],
        "send_hour": one(form, "send_hour")[:2],
        "timezone": one(form, "timezone")[:64],
    }


def unique_seeds(seeds: Sequence[SeedPaper]) -> list[SeedPaper]:
    return list({(s.id, s.title, s.abstract): s for s in seeds}.values())
