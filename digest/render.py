"""Digests → HTML email, plain text and RSS, from Jinja templates. No I/O, no database.

Two kinds of template. A *pick* (``email/_pick.html``, ``email/_pick.txt``,
``_feed_item.xml``) is one paper with one reader's why line, relevance and feedback links:
it is rendered once per paper (per paper and day, for feeds) into a
:class:`~digest.stencil.Stencil` and filled in for each reader who gets that paper. A
*page* (``email/digest_email.html`` and ``.txt``, ``feed.xml``) is rendered by Jinja for
each reader, with the finished picks spliced in. A reader's digest costs two small page
renders and a ``%`` per pick and part, whatever the templates hold.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, Template, TemplateError, meta
from markupsafe import Markup, escape

from digest.cards import card
from digest.latex import to_text
from digest.models import Digest, Paper
from digest.settings import Settings
from digest.stencil import Markers, Stencil, check
from digest.templating import environment

PERSONAL = ("index", "profile", "why", "relevance", "up", "down")
PICKS = ("email/_pick.html", "email/_pick.txt")
ITEM = ("pick",)
_NUMBERS = [str(n).encode() for n in range(1001)]  # a profile picks at most 200 papers


def relevance(score: float, best: float) -> str:
    """A pick's relevance in words, from its score against the best of its section
    (every pick already stands out from the day's papers: see the profile's cut-off)."""
    if best <= 0:
        return "Partial match"
    ratio = score / best
    return "Strong match" if ratio >= 0.75 else "Good match" if ratio >= 0.5 else "Partial match"


_WORDS = {w: w.encode() for w in ("Strong match", "Good match", "Partial match")}


@dataclass(frozen=True, slots=True)
class Rendered:
    """One digest as UTF-8, ready to go into a message; with its feed items if asked
    (as the pieces to join: they are joined once, into the reader's whole feed)."""

    subject: str
    html: bytes
    text: bytes
    items: list[bytes] | None = None


@dataclass(frozen=True, slots=True)
class Email:
    subject: str
    html: str
    text: str


@dataclass(frozen=True, slots=True)
class SectionView:
    """A section as page templates see it: ``picks`` is where its finished picks go."""

    profile: str
    count: int
    picks: Markup


_SPECIAL = re.compile(r"[&<>\"']").search


def _escaped(text: str) -> str:
    return str(escape(text)) if _SPECIAL(text) else text


class _Section:
    """A reader's values for the picks of one profile, as bytes. A paper's feedback
    link is this prefix followed by the paper's quoted id, which its stencils hold
    (the layout of :func:`digest.links.feedback_url`)."""

    __slots__ = ("down", "down_html", "plain_is_html", "profile", "profile_html", "up", "up_html")

    def __init__(self, base: str, profile: str) -> None:
        up = f"{base}/up/{quote(profile, safe='')}/"
        down = f"{base}/down/{quote(profile, safe='')}/"
        self.profile = profile.encode()
        self.profile_html = _escaped(profile).encode()
        self.up = up.encode()
        self.down = down.encode()
        self.up_html = _escaped(up).encode()
        self.down_html = _escaped(down).encode()
        self.plain_is_html = (self.profile, self.up, self.down) == (
            self.profile_html,
            self.up_html,
            self.down_html,
        )

    def escaped(self, n: int, why: str, words: bytes) -> tuple[bytes, ...]:
        """``PERSONAL`` values escaped, for HTML and XML (the render loop makes the
        plain ones, which serve for both whenever nothing needs escaping)."""
        why_html = _escaped(why).encode()
        return (_NUMBERS[n], self.profile_html, why_html, words, self.up_html, self.down_html)


class _Picks:
    """A paper's picks, rendered once: email HTML and text, and a feed item per day."""

    __slots__ = ("html", "items", "text")

    def __init__(self, html: Stencil, text: Stencil) -> None:
        self.html = html
        self.text = text
        self.items: dict[date, tuple[bytes, bytes]] = {}


def _context(paper: Paper) -> dict[str, Any]:
    """What a pick template knows of its paper (see :func:`digest.cards.card`)."""
    return card(paper)


def _item_context(paper: Paper, day: date) -> dict[str, Any]:
    return {**_context(paper), "guid": f"digest:{day.isoformat()}:{paper.id}", "date": day}


RENAMED = {"score": "relevance"}
"""Reader's values a pick template could print before, and what they are now."""


def _renamed(env: Environment, name: str) -> None:
    """Refuse an operator's pick template that prints a value by its old name, at
    start and saying so, rather than failing on the day's first pick."""
    source = env.loader.get_source(env, name)[0] if env.loader is not None else ""
    used = meta.find_undeclared_variables(env.parse(source))
    for old, new in RENAMED.items():
        if old in used:
            raise TemplateError(
                f"{name}: {{{{ {old} }}}} is now {{{{ {new} }}}} (the pick's relevance in words)"
            )


@functools.lru_cache(maxsize=8)
def _verify(env: Environment) -> None:
    """Refuse, once per template environment, pick templates that do more with a
    reader's values than print them, and a feed item that does not print its pick
    exactly once (tried on a sample paper)."""
    for name in PICKS:
        check(env, name, PERSONAL)
        _renamed(env, name)
    check(env, "_feed_item.xml", ITEM)
    sample = Paper(id="0000.00000", title="sample", url="https://example.org/")
    item = env.get_template("_feed_item.xml")
    try:
        Stencil.render(item, _item_context(sample, date(2000, 1, 1)), ITEM, Markers()).around()
    except ValueError as exc:
        raise TemplateError(f"template '_feed_item.xml' must print {{{{ pick }}}}: {exc}") from exc


def summarise(digest: Digest) -> str:
    """One line for the top of the digest: ``12 papers: 8 for diffusion, 4 for theory``."""
    sections = [s for s in digest.sections if s.papers]
    count = digest.size
    if not count:
        return "No new papers for you this time"
    papers = f"{count} paper{'' if count == 1 else 's'}"
    if len(sections) == 1:
        return f"{papers} for {sections[0].profile}"
    parts = ", ".join(f"{len(s.papers)} for {s.profile}" for s in sections)
    return f"{papers}: {parts}" if parts else papers


class Renderer:
    """Renders digests and feeds for one run. It keeps each paper's rendered picks, so
    build one per run (or per request), not one per reader."""

    def __init__(self, settings: Settings, env: Environment | None = None) -> None:
        self.settings = settings
        self.env = env or environment(settings)
        _verify(self.env)
        self._markers = Markers()
        self._pick_html = self.env.get_template("email/_pick.html")
        self._pick_text = self.env.get_template("email/_pick.txt")
        self._feed_item = self.env.get_template("_feed_item.xml")
        self._html = self.env.get_template("email/digest_email.html")
        self._text = self.env.get_template("email/digest_email.txt")
        self._feed = self.env.get_template("feed.xml")
        self._feed_note = self.env.get_template("_feed_note.xml")
        self._notes: dict[tuple[date, str], bytes] = {}
        self._picks: dict[str, _Picks] = {}
        self._days: dict[date, tuple[str, str]] = {}

    @property
    def size(self) -> int:
        """How many papers' picks this renderer keeps."""
        return len(self._picks)

    # picks -------------------------------------------------------------------------

    def _stencil(self, template: Template, paper: Paper, context: dict[str, Any]) -> Stencil:
        paper_id = Markup(quote(paper.id, safe=""))
        tails = {"up": paper_id, "down": paper_id}
        return Stencil.render(template, context, PERSONAL, self._markers, tails)

    def _paper(self, paper: Paper) -> _Picks:
        found = self._picks.get(paper.id)
        if found is None:
            context = _context(paper)
            found = self._picks[paper.id] = _Picks(
                self._stencil(self._pick_html, paper, context),
                self._stencil(self._pick_text, paper, context),
            )
        return found

    def _item(self, paper: Paper, day: date) -> tuple[bytes, bytes]:
        """The paper's feed item for ``day``, as what comes before and after the pick."""
        picks = self._picks.get(paper.id) or self._paper(paper)
        found = picks.items.get(day)
        if found is None:
            context = _item_context(paper, day)
            stencil = Stencil.render(self._feed_item, context, ITEM, self._markers)
            found = picks.items[day] = stencil.around()
        return found

    # the email ------------------------------------------------------------------------

    def subject(self, digest: Digest) -> str:
        count = digest.size
        if not count:
            return f"No new papers for you ({self._day(digest.day)[1]})"
        names = ", ".join(s.profile for s in digest.sections if s.papers)
        plural = "" if count == 1 else "s"
        return f"{count} new paper{plural} for {names} ({self._day(digest.day)[1]})"

    def _day(self, day: date) -> tuple[str, str]:
        found = self._days.get(day)
        if found is None:
            found = self._days[day] = (f"{day:%A %d %B %Y}", f"{day:%a %d %b}")
        return found

    def _fill(
        self, digest: Digest, *, text: bool, items: bool
    ) -> tuple[list[list[bytes]], list[list[bytes]], list[bytes]]:
        """Each section's finished HTML picks and (if asked) text picks, and the feed
        items, whose description is the HTML pick."""
        html_out: list[list[bytes]] = []
        text_out: list[list[bytes]] = []
        item_parts: list[bytes] = []
        known = self._picks.get
        day = digest.day
        for section in digest.sections:
            if not section.papers:
                continue
            values = _Section(digest.links.feedback, section.profile)
            profile, up, down = values.profile, values.up, values.down
            plain_is_html = values.plain_is_html
            html_parts: list[bytes] = []
            text_parts: list[bytes] = []
            # the loop that runs for every pick of every reader: kept flat on purpose
            best = max(sp.score for sp in section.papers)
            for n, (paper, score, why, _) in enumerate(section.papers, 1):
                picks = known(paper.id) or self._paper(paper)
                words = _WORDS[relevance(score, best)]
                plain = (_NUMBERS[n], profile, why.encode(), words, up, down)
                escaped = (
                    plain
                    if plain_is_html and _SPECIAL(why) is None
                    else values.escaped(n, why, words)
                )
                body = picks.html.fill(escaped)
                html_parts.append(body)
                if text:
                    text_parts.append(picks.text.fill(plain))
                if items:
                    head, tail = picks.items.get(day) or self._item(paper, day)
                    item_parts += (head, body, tail)
            html_out.append(html_parts)
            text_out.append(text_parts)
        return html_out, text_out, item_parts

    def render(self, digest: Digest, *, items: bool = False) -> Rendered:
        """The digest's HTML and plain text as UTF-8, and its feed items if ``items``."""
        sections = [s for s in digest.sections if s.papers]
        html, text, item_parts = self._fill(digest, text=True, items=items)
        views = [
            SectionView(s.profile, len(s.papers), self._markers.mark(k))
            for k, s in enumerate(sections)
        ]
        subject = self.subject(digest)
        summary = summarise(digest)
        first = sections[0].papers[0].paper.title if sections else ""
        context = {
            "subject": subject,
            "summary": summary,
            "preheader": f"{summary}. First: {to_text(first)}" if first else summary,
            "note": digest.note,
            "day_long": self._day(digest.day)[0],
            "count": digest.size,
            "profile_names": ", ".join(s.profile for s in sections),
            "sections": views,
            "email": digest.email,
            "links": digest.links,
            "site": self.settings.web.base_url,
        }
        return Rendered(
            subject=subject,
            html=self._markers.splice(self._html.render(context), html),
            text=self._markers.splice(self._text.render(context), text),
            items=item_parts if items else None,
        )

    def email(self, digest: Digest) -> Email:
        """The digest as text, for pages and previews."""
        rendered = self.render(digest)
        return Email(rendered.subject, rendered.html.decode(), rendered.text.decode())

    # the feed -------------------------------------------------------------------------

    def feed_items(self, digest: Digest) -> list[bytes]:
        """The digest's papers as feed ``<item>`` elements, as UTF-8 pieces to join."""
        return self._fill(digest, text=False, items=True)[2]

    def note_item(self, day: date, note: str) -> bytes:
        """A feed item that says why ``day``'s digest is empty or short: the same for
        every reader it applies to, so rendered once per day and note."""
        found = self._notes.get((day, note))
        if found is None:
            key = hashlib.sha1(note.encode()).hexdigest()[:12]
            context = {
                "note": note,
                "date": day,
                "guid": f"digest:{day.isoformat()}:note:{key}",
                "link": self.settings.web.base_url,
            }
            found = self._notes[(day, note)] = self._feed_note.render(context).encode()
        return found

    def feed(
        self,
        *,
        email: str,
        self_url: str,
        link: str,
        items: Iterable[list[bytes]],
        updated: datetime | None,
    ) -> bytes:
        """RSS 2.0 as UTF-8 around ``items`` (each digest's :meth:`feed_items`, newest
        digest first); a paper's guid is stable across rebuilds."""
        context = {
            "title": f"digest for {email}",
            "link": link,
            "self_url": self_url,
            "description": "New papers picked for your interest profiles.",
            "updated": updated,
            "items": self._markers.mark(0),
        }
        page = self._feed.render(context)
        return self._markers.splice(page, [[piece for pieces in items for piece in pieces]])


__all__ = ["Email", "Rendered", "Renderer"]
