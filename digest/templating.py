"""The email and feed templates' Jinja environment: where templates come from (the
operator's folder first), CSS inlined into them once, and the filters they use.

CSS is inlined by premailer into the *templates*, once per process, not into each
message: Jinja tags are swapped for inert placeholders, premailer inlines the
``<style>`` rules (keeping ``@media`` rules, which cannot be inlined), and the tags are
put back.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, MutableMapping, Sequence
from datetime import UTC, date, datetime, time
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    select_autoescape,
)
from premailer import Premailer

from digest.latex import to_text
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
        html = html[html.index("<body>") + len("<body>") : html.rindex("</body>")].strip() + "\n"
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
    env = _Environment(
        loader=loader,
        autoescape=select_autoescape(["html", "xml", "rss"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["rfc822"] = rfc822
    env.filters["tex"] = to_text
    env.globals.update(cut=cut_abstract, short_authors=short_authors)
    return env


class _Environment(Environment):
    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        """A plain dict, not a ChainMap over the environment's globals: every render
        copies the globals, and a ChainMap costs a third of a small page's render. The
        globals are all set before the first template loads."""
        return {**self.globals, **(d or {})}


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
