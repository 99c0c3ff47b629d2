"""Digests → HTML email, plain text and RSS, from Jinja templates. No I/O, no database.

CSS is inlined by premailer into the *templates*, once per process, not into each
message: Jinja tags are swapped for inert placeholders, premailer inlines the
``<style>`` rules (keeping ``@media`` rules, which cannot be inlined), and the tags are
put back. A paper's card is the same for every reader, so it is rendered once per
paper and reused by every digest that picks it.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    select_autoescape,
)
from markupsafe import Markup
from premailer import Premailer

from digest.links import feedback_url
from digest.models import Digest, Paper, ScoredPaper
from digest.resources import shipped
from digest.settings import Settings

_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_COMMENT = re.compile(r"\{#.*?#\}", re.DOTALL)
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")


def inline_css(source: str, *, fragment: bool = False) -> str:
    """Inline a Jinja HTML template's ``<style>`` into its markup, tags untouched.

    ``fragment``: return only what is inside ``<body>`` (for partials)."""
    source = _COMMENT.sub("", source)
    tags: list[str] = []

    def hide(match: re.Match[str]) -> str:
        tags.append(match.group(0))
        return f"JINJATAG{len(tags) - 1}X"

    hidden = _JINJA.sub(hide, source)
    html = Premailer(
        hidden,
        keep_style_tags=False,
        remove_classes=False,
        strip_important=False,
        disable_validation=True,
        cssutils_logging_level=logging.CRITICAL,
        allow_network=False,
        disable_basic_attributes=["width"],
    ).transform(pretty_print=False)
    if fragment:
        html = html[html.index("<body>") + len("<body>") : html.rindex("</body>")].strip()
    elif source.lstrip().lower().startswith("<!doctype") and not html.lower().startswith(
        "<!doctype"
    ):
        html = "<!DOCTYPE html>\n" + html
    html = re.sub(r"<!--(JINJATAG\d+X)-->", r"\1", html)
    return re.sub(r"JINJATAG(\d+)X", lambda m: tags[int(m.group(1))], html)


class InliningLoader(BaseLoader):
    """Serves ``email/*.html`` templates with their CSS already inlined."""

    def __init__(self, inner: BaseLoader) -> None:
        self.inner = inner

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        source, filename, uptodate = self.inner.get_source(environment, template)
        if template.startswith("email/") and template.endswith(".html"):
            name = template.rsplit("/", 1)[-1]
            source = inline_css(source, fragment=name.startswith("_"))
        return source, filename, uptodate

    def list_templates(self) -> list[str]:
        return self.inner.list_templates()


def environment(settings: Settings) -> Environment:
    """Operator's ``templates_dir`` first, then the shipped templates. Autoescape is on
    for HTML and XML; plain-text templates are not escaped (they are not markup).

    One environment per template folder and process, so templates are CSS-inlined and
    compiled once, not for every feed request or archive page."""
    return _environment(settings.templates_dir)


@functools.lru_cache(maxsize=8)
def _environment(templates_dir: Path | None) -> Environment:
    folders = [shipped("templates")]
    if templates_dir is not None:
        folders.insert(0, templates_dir)
    loader = InliningLoader(ChoiceLoader([FileSystemLoader(str(f)) for f in folders]))
    env = Environment(
        loader=loader,
        autoescape=select_autoescape(["html", "xml", "rss"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["rfc822"] = rfc822
    env.globals.update(cut=cut_abstract, short_authors=short_authors)
    return env


def rfc822(value: datetime | date) -> str:
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0, 0))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return format_datetime(value)


def cut_abstract(text: str, limit: int = 420) -> str:
    """The abstract up to ``limit`` characters, ending at a sentence boundary when one
    falls in the second half, else at a word, with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    ends = [m.start() for m in _SENTENCE.finditer(text, 0, limit + 1)]
    ends = [e for e in ends if e >= limit // 2]
    if ends:
        return text[: ends[-1]]
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "\u2026"


def short_authors(authors: Sequence[str], keep: int = 4) -> str:
    if len(authors) <= keep:
        return ", ".join(authors)
    return f"{', '.join(authors[: keep - 1])} et al. ({len(authors)} authors)"


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


class Renderer:
    """Renders digests for one run. Keeps each paper's card, so build one per day."""

    def __init__(self, settings: Settings, env: Environment | None = None) -> None:
        self.settings = settings
        self.env = env or environment(settings)
        self._cards: dict[str, Markup] = {}
        self._text_cards: dict[str, str] = {}
        self._quoted: dict[str, str] = {}
        self._card = self.env.get_template("email/_paper_card.html")
        self._text_card = self.env.get_template("email/_paper_card.txt")
        self._html = self.env.get_template("email/digest_email.html")
        self._text = self.env.get_template("email/digest_email.txt")
        self._feed = self.env.get_template("feed.xml")

    def card(self, paper: Paper) -> Markup:
        found = self._cards.get(paper.id)
        if found is None:
            found = self._cards[paper.id] = Markup(
                self._card.render(
                    paper=paper,
                    abstract=cut_abstract(paper.abstract),
                    authors=short_authors(paper.authors),
                )
            )
        return found

    def text_card(self, paper: Paper) -> str:
        found = self._text_cards.get(paper.id)
        if found is None:
            found = self._text_cards[paper.id] = self._text_card.render(
                paper=paper,
                abstract=cut_abstract(paper.abstract),
                authors=short_authors(paper.authors),
            )
        return found

    def _quote(self, value: str) -> str:
        found = self._quoted.get(value)
        if found is None:
            found = self._quoted[value] = quote(value, safe="")
        return found

    def subject(self, digest: Digest) -> str:
        count = digest.size
        names = ", ".join(s.profile for s in digest.sections if s.papers)
        return f"{count} new paper{'' if count == 1 else 's'} for {names} · {digest.day:%a %d %b}"

    def _context(self, digest: Digest) -> dict[str, Any]:
        sections = [s for s in digest.sections if s.papers]
        return {
            "subject": self.subject(digest),
            "day_long": f"{digest.day:%A %d %B %Y}",
            "count": digest.size,
            "profile_names": ", ".join(s.profile for s in sections),
            "sections": sections,
            "email": digest.email,
            "links": digest.links,
            "site": self.settings.web.base_url,
            "feedback": lambda profile, pid, vote: (
                f"{digest.links.feedback}/{vote}/{self._quote(profile)}/{self._quote(pid)}"
            ),
        }

    def email(self, digest: Digest) -> Email:
        context = self._context(digest)
        picks = [sp.paper for s in digest.sections for sp in s.papers]
        context["cards"] = {p.id: self.card(p) for p in picks}
        context["text_cards"] = {p.id: self.text_card(p) for p in picks}
        return Email(
            subject=context["subject"],
            html=self._html.render(context),
            text=self._text.render(context),
        )

    def feed(
        self,
        *,
        email: str,
        self_url: str,
        link: str,
        entries: Iterable[FeedEntry],
        updated: datetime | None,
    ) -> str:
        """RSS 2.0, newest digest first; a paper's guid is stable across rebuilds."""
        items = [
            {
                "pick": e.pick,
                "date": e.day,
                "guid": f"digest:{e.day.isoformat()}:{e.pick.paper.id}",
                "html": self._item_html(e),
            }
            for e in entries
        ]
        return self._feed.render(
            title=f"digest for {email}",
            link=link,
            self_url=self_url,
            description="New papers picked for your interest profiles.",
            updated=updated,
            items=items,
        )

    def _item_html(self, entry: FeedEntry) -> str:
        pick = entry.pick
        up = feedback_url(entry.feedback, "up", pick.profile, pick.paper.id)
        down = feedback_url(entry.feedback, "down", pick.profile, pick.paper.id)
        return str(
            self.card(pick.paper)
            + Markup("<p><em>{}</em>: {} · score {:.2f}</p>").format(
                pick.profile, pick.why, pick.score
            )
            + Markup(
                '<p><a href="{}">👍 More like this</a> · <a href="{}">👎 Less like this</a></p>'
            ).format(up, down)
        )


def missing_template(name: str) -> TemplateNotFound:
    return TemplateNotFound(name)


__all__ = ["Email", "FeedEntry", "Renderer", "Template", "cut_abstract", "inline_css"]
