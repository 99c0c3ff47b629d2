"""Why lines that say something: the same reason on every pick of a section tells the
reader nothing, so each pick leads with what matched it in particular.

Works on the picks of one section as scoring wrote them (reasons joined by `` · ``,
in the order the scorer found them): a reason every pick shares is said once, on
the first pick; each other pick keeps what sets it apart, and a keyword found in its
title comes first, as the strongest match of that paper. A pick that
only its wording brought in ("similar to your interests" on every line) names the
profile's words it uses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

from digest.models import ScoredPaper

SEPARATOR = " · "
KEYWORDS = "keywords: "
GENERIC = "similar to your interests"  # the scorer's why when nothing but wording matched
_WORD = re.compile(r"[a-z0-9][a-z0-9\-]*")


@lru_cache(maxsize=65536)
def _reasons(why: str) -> tuple[str, ...]:
    return tuple(why.split(SEPARATOR))


@lru_cache(maxsize=16384)
def _phrases(reason: str) -> tuple[str, ...]:
    """The keyword phrases of a ``keywords: a, b`` reason; none for another reason."""
    return tuple(reason.removeprefix(KEYWORDS).split(", ")) if reason.startswith(KEYWORDS) else ()


@lru_cache(maxsize=1 << 17)
def _title_has(phrase: str, title: str) -> bool:
    """Whether the title holds the phrase, a plural as its singular ("language
    models" is in "A Language Model for…")."""
    folded = " ".join(_stem(w) for w in phrase.lower().split())
    return re.search(rf"\b{re.escape(folded)}", title, re.IGNORECASE) is not None


def _in_title(reasons: tuple[str, ...], title: str) -> str:
    """The first matched keyword the title holds, or ``""``."""
    for reason in reasons:
        for phrase in _phrases(reason):
            if _title_has(phrase, title):
                return phrase
    return ""


def _stem(word: str) -> str:
    """A plural's singular, as scoring folds it ("simulations" matches "simulation")."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


@lru_cache(maxsize=8192)
def _words(text: str) -> frozenset[str]:
    return frozenset(_stem(w) for w in _WORD.findall(text.lower()))


def _mentions(title: str, abstract: str, category: str, words: tuple[str, ...]) -> str:
    """``mentions “reservoir”, “parallel” (title)``: the profile's words that the paper
    uses, for a pick that only its wording brought in; else its main category."""
    for where, text in (("title", title), ("abstract", abstract)):
        found = [w for w in words if _stem(w) in _words(text)]
        if found:
            quoted = ", ".join(f"\u201c{w}\u201d" for w in found[:3])
            return f"mentions {quoted} ({where})"
    # nothing named: at least say where the paper sits
    return f"{GENERIC}, from {category}" if category else ""


def profile_words(phrases: Iterable[str]) -> tuple[str, ...]:
    """The words of a profile's keyword phrases worth naming (not "of", "for"…), as
    the reader wrote them; each is found in a paper as its singular."""
    found: dict[str, str] = {}
    for p in phrases:
        for w in _WORD.findall(p.lower()):
            if len(w) > 3:
                found.setdefault(_stem(w), w)
    return tuple(found.values())


def vary(picks: Sequence[ScoredPaper], words: tuple[str, ...] = ()) -> list[ScoredPaper]:
    """The section's picks with their why lines varied (see the module's docstring);
    ``words`` (:func:`profile_words`) name what a pick brought in by its wording alone
    shares with the profile. A single pick is unchanged."""
    if len(picks) < 2:
        return list(picks)
    first = picks[0].why
    shared = frozenset(_reasons(first))
    for sp in picks[1:]:
        if sp.why != first and shared:
            shared = shared.intersection(_reasons(sp.why))
    out = [_first(picks[0], words)]
    for sp in picks[1:]:
        new = _rewrite(sp, shared, words)
        out.append(sp if new == sp.why else sp._replace(why=new))
    return out


def _rewrite(sp: ScoredPaper, shared: frozenset[str], words: tuple[str, ...]) -> str:
    """One pick's why: what it shares with every other pick of its section left out,
    a keyword in its title first."""
    reasons = _reasons(sp.why)
    paper = sp.paper
    phrase = _in_title(reasons, paper.title)
    if phrase:
        said = KEYWORDS + phrase  # a keyword reason that the title hint says already
        lead = [f"\u201c{phrase}\u201d in the title"]
        own = [r for r in reasons if r not in shared and r != said]
    else:
        lead = []
        own = [r for r in reasons if r not in shared]
        if not own and reasons == (GENERIC,):
            cats = paper.categories
            mentions = _mentions(paper.title, paper.abstract, cats[0] if cats else "", words)
            lead = [mentions] if mentions else []
    return SEPARATOR.join(lead + own or list(reasons[:1]))


def _first(sp: ScoredPaper, words: tuple[str, ...]) -> ScoredPaper:
    """The first pick keeps every reason; only a bare "similar to your interests" is
    made more specific."""
    if sp.why != GENERIC:
        return sp
    paper = sp.paper
    cats = paper.categories
    mentions = _mentions(paper.title, paper.abstract, cats[0] if cats else "", words)
    return sp._replace(why=mentions) if mentions else sp
