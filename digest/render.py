"""Digests → HTML email, plain text and RSS, from Jinja templates. No I/O, no database.

Two kinds of template. A *pick* (``email/_pick.html``, ``email/_pick.txt``,
``_feed_item.xml``) is one paper with one reader's why line, score and feedback links:
it is rendered once per paper (per paper and day, for feeds) into a
:class:`~digest.stencil.Stencil` and filled in for each reader who gets that paper. A
*page* (``email/digest_email.html`` and ``.txt``, ``feed.xml``) is rendered by Jinja for
each reader, with the finished picks spliced in. A reader's digest costs two small page
renders and a ``%`` per pick and part, whatever the templates hold.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, Template
from markupsafe import Markup, escape

from digest.models import Digest, Paper, ScoredPaper
from digest.settings import Settings
from digest.stencil import Markers, Stencil, check
from digest.templating import cut_abstract, environment, short_authors

PERSONAL = ("index", "profile", "why", "score", "up", "down")
PICKS = ("email/_pick.html", "email/_pick.txt", "_feed_item.xml")
_NUMBERS = [str(n).encode() for n in range(256)]


@dataclass(frozen=True, slots=True)
class Rendered:
    """One digest as UTF-8, ready to go into a message."""

    subject: str
    html: bytes
    text: bytes


@dataclass(frozen=True, slots=True)
class Email:
    subject: str
    html: str
    text: str


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One paper in a personal feed: from the digest of ``day``."""

    pick: ScoredPaper
    day: date
    feedback: str


@dataclass(frozen=True, slots=True)
class SectionView:
    """A section as page templates see it: ``picks`` is where its finished picks go."""

    profile: str
    count: int
    picks: Markup


class _Votes:
    """One reader's feedback links for one profile, as bytes: a paper's link is the
    prefix and the paper's quoted id (the layout of :func:`digest.links.feedback_url`)."""

    __slots__ = ("down", "down_html", "profile", "profile_html", "up", "up_html")

    def __init__(self, base: str, profile: str) -> None:
        up = f"{base}/up/{quote(profile, safe='')}/"
        down = f"{base}/down/{quote(profile, safe='')}/"
        self.profile = profile.encode()
        self.profile_html = escape(profile).encode()
        self.up = up.encode()
        self.down = down.encode()
        self.up_html = escape(up).encode()
        self.down_html = escape(down).encode()


class Renderer:
    """Renders digests and feeds for one run. It keeps each paper's rendered picks, so
    build one per run (or per request), not one per reader."""

    def __init__(self, settings: Settings, env: Environment | None = None) -> None:
        self.settings = settings
        self.env = env or environment(settings)
        for name in PICKS:
            check(self.env, name, PERSONAL)
        self._markers = Markers()
        self._pick_html = self.env.get_template("email/_pick.html")
        self._pick_text = self.env.get_template("email/_pick.txt")
        self._feed_item = self.env.get_template("_feed_item.xml")
        self._html = self.env.get_template("email/digest_email.html")
        self._text = self.env.get_template("email/digest_email.txt")
        self._feed = self.env.get_template("feed.xml")
        self._stencils: dict[tuple[str | None, str, date | None], Stencil] = {}
        self._papers: dict[str, dict[str, Any]] = {}
        self._ids: dict[str, bytes] = {}
        self._scores: dict[float, bytes] = {}
        self._days: dict[date, tuple[str, str]] = {}

    # picks -------------------------------------------------------------------------

    def _stencil(self, template: Template, paper: Paper, day: date | None = None) -> Stencil:
        key = (template.name, paper.id, day)
        found = self._stencils.get(key)
        if found is None:
            context = self._papers.get(paper.id)
            if context is None:
                context = self._papers[paper.id] = {
                    "paper": paper,
                    "abstract": cut_abstract(paper.abstract),
                    "authors": short_authors(paper.authors),
                }
            if day is not None:
                context = {**context, "guid": f"digest:{day.isoformat()}:{paper.id}", "date": day}
            found = Stencil.render(template, context, PERSONAL, self._markers)
            self._stencils[key] = found
        return found

    def prepare(self, papers: Iterable[Paper], day: date | None = None) -> None:
        """Render every pick of ``papers`` now (before forking workers, say)."""
        for paper in papers:
            self._stencil(self._pick_html, paper)
            self._stencil(self._pick_text, paper)
            if day is not None:
                self._stencil(self._feed_item, paper, day)

    def _values(
        self, n: int, pick: ScoredPaper, votes: _Votes
    ) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
        """A pick's personal values in ``PERSONAL`` order: as they are, and escaped."""
        paper_id = self._ids.get(pick.paper.id)
        if paper_id is None:
            paper_id = self._ids[pick.paper.id] = quote(pick.paper.id, safe="").encode()
        score = self._scores.get(pick.score)
        if score is None:
            score = self._scores[pick.score] = f"{pick.score:.2f}".encode()
        number = _NUMBERS[n] if n < len(_NUMBERS) else str(n).encode()
        why = pick.why.encode()
        plain = (number, votes.profile, why, score, votes.up + paper_id, votes.down + paper_id)
        escaped = (
            number,
            votes.profile_html,
            escape(pick.why).encode(),
            score,
            votes.up_html + paper_id,
            votes.down_html + paper_id,
        )
        return plain, escaped

    # the email ------------------------------------------------------------------------

    def subject(self, digest: Digest) -> str:
        count = digest.size
        names = ", ".join(s.profile for s in digest.sections if s.papers)
        plural = "" if count == 1 else "s"
        return f"{count} new paper{plural} for {names} · {self._day(digest.day)[1]}"

    def _day(self, day: date) -> tuple[str, str]:
        found = self._days.get(day)
        if found is None:
            found = self._days[day] = (f"{day:%A %d %B %Y}", f"{day:%a %d %b}")
        return found

    def render(self, digest: Digest) -> Rendered:
        """The digest's HTML and plain text, as UTF-8."""
        sections = [s for s in digest.sections if s.papers]
        views: list[SectionView] = []
        html: list[bytes] = []
        text: list[bytes] = []
        for k, section in enumerate(sections):
            votes = _Votes(digest.links.feedback, section.profile)
            html_parts = []
            text_parts = []
            for n, pick in enumerate(section.papers, 1):
                plain, escaped = self._values(n, pick, votes)
                html_parts.append(self._stencil(self._pick_html, pick.paper).fill(escaped))
                text_parts.append(self._stencil(self._pick_text, pick.paper).fill(plain))
            html.append(b"".join(html_parts))
            text.append(b"".join(text_parts))
            views.append(SectionView(section.profile, len(section.papers), self._markers.mark(k)))
        subject = self.subject(digest)
        context = {
            "subject": subject,
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
        )

    def email(self, digest: Digest) -> Email:
        """The digest as text, for pages and previews."""
        rendered = self.render(digest)
        return Email(rendered.subject, rendered.html.decode(), rendered.text.decode())

    # the feed -------------------------------------------------------------------------

    def feed_items(self, entries: Iterable[FeedEntry]) -> bytes:
        """The ``<item>`` elements of ``entries``, in order, as UTF-8."""
        votes: dict[tuple[str, str], _Votes] = {}
        out = []
        for n, entry in enumerate(entries, 1):
            key = (entry.feedback, entry.pick.profile)
            found = votes.get(key)
            if found is None:
                found = votes[key] = _Votes(*key)
            escaped = self._values(n, entry.pick, found)[1]
            out.append(self._stencil(self._feed_item, entry.pick.paper, entry.day).fill(escaped))
        return b"".join(out)

    def feed(
        self,
        *,
        email: str,
        self_url: str,
        link: str,
        entries: Iterable[FeedEntry],
        updated: datetime | None,
    ) -> bytes:
        """RSS 2.0 as UTF-8, newest digest first; a paper's guid is stable across rebuilds."""
        page = self._feed.render(
            title=f"digest for {email}",
            link=link,
            self_url=self_url,
            description="New papers picked for your interest profiles.",
            updated=updated,
            items=self._markers.mark(0),
        )
        return self._markers.splice(page, [self.feed_items(entries)])


__all__ = ["Email", "FeedEntry", "Rendered", "Renderer"]
