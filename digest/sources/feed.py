"""RSS 2.0, RSS 1.0 (RDF) and Atom through feedparser, with arXiv's three dialects.

* current arXiv RSS: ``arxiv:announce_type``, comma-separated ``dc:creator``, and a
  description ``arXiv:ID Announce Type: new \\nAbstract: …``;
* legacy arXiv RSS: titles ``Title. (arXiv:ID [cat] UPDATED)`` (or ``CROSS LISTED``),
  HTML author links, no per-item date (the channel's ``dc:date`` is used);
* arXiv API Atom: an entry titled ``Error`` whose id is under ``/api/errors`` is the
  API reporting a bad query, not a paper.

Error or warning: a document feedparser cannot read as a feed at all (empty, an HTML
page, XML so broken that no entry survives) sets ``error``; a malformed feed from
which entries were recovered keeps them and adds a warning.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from time import struct_time
from typing import Any
from xml.etree.ElementTree import ParseError

import feedparser
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from digest.identity import canonical_url, normalise_doi, paper_key, parse_arxiv_id
from digest.models import Paper, ParseResult
from digest.sources.text import names, plain

_LEGACY_TAIL = re.compile(
    r"\(arXiv:(?P<id>[^\s\]]+?)(?:v(?P<v>\d+))?\s*\[(?P<cat>[^\]]+)\]\s*(?P<flag>[A-Z ]*)\)\s*$"
)
_ANNOUNCE = re.compile(r"^\s*arXiv:\S+\s+Announce Type:\s*\S+\s*(?:Abstract:\s*)?", re.DOTALL)
_HTML_START = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b", re.I | re.S)


_LEGACY_FLAGS = {"UPDATED": "replace", "CROSS LISTED": "cross"}


def _announce(value: str | None) -> str | None:
    """arXiv's announce type as one of new, cross, replace (``replace-cross`` is a new
    version too: what matters to a reader is that the paper is not new)."""
    kind = (value or "").strip().lower()
    if kind.startswith("replace"):
        return "replace"
    return kind if kind in ("new", "cross") else None


def _date(raw: str | None, parsed: struct_time | None) -> date | None:
    """The calendar day as the publisher wrote it (feedparser's own value is in UTC,
    which moves an evening announcement in New York to the next day)."""
    if raw:
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00")).date()
        except ValueError:
            pass
        try:
            return parsedate_to_datetime(raw).date()
        except (TypeError, ValueError, IndexError):
            pass
    if not parsed:
        return None
    return date(parsed.tm_year, parsed.tm_mon, parsed.tm_mday)


def _when(item: Any, *fields: str) -> date | None:
    for field in fields:
        found = _date(item.get(field), item.get(f"{field}_parsed"))
        if found:
            return found
    return None


def _legacy_title(title: str) -> tuple[str, re.Match[str]] | None:
    """``Title. (arXiv:ID [cat] FLAG)`` -> the title and the tail's match. Only the
    last ``(arXiv:`` is tried, so a title full of them costs one pass."""
    at = title.rfind("(arXiv:")
    tail = _LEGACY_TAIL.match(title, at) if at >= 0 else None
    if tail is None:
        return None
    return title[:at].rstrip().removesuffix(".").strip(), tail


class _Root(Exception):
    """The root element began: the prolog, where entities are declared, is over."""


class _StopAtRoot:
    def start(self, tag: str, attrib: dict[str, str]) -> None:
        raise _Root

    def end(self, tag: str) -> None:
        pass

    def data(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def _declares_entities(data: bytes) -> str | None:
    """Why the document must not be read, if its prolog declares XML entities: an
    expansion bomb or an external entity (a local file, a URL). Feeds never need them;
    a DOCTYPE that only names a DTD is fine. Only the prolog is read."""
    parser = DefusedXMLParser(
        target=_StopAtRoot(), forbid_dtd=False, forbid_entities=True, forbid_external=True
    )
    try:
        parser.feed(data)
    except DefusedXmlException as exc:
        name = getattr(exc, "name", None) or getattr(exc, "sysid", None) or ""
        return f"refused: the document declares XML entities ({name}), which feeds never use"
    except (_Root, ParseError, LookupError, ValueError):
        return None  # the root began, or the prolog is not XML: feedparser decides
    return None


def _is_api_error(entry: Any) -> bool:
    return "/api/errors" in str(entry.get("id", "")) and entry.get("title") == "Error"


def _categories(entry: Any) -> tuple[str, ...]:
    primary = (entry.get("arxiv_primary_category") or {}).get("term")
    terms = [t.get("term") for t in entry.get("tags", []) if t.get("term")]
    ordered = [primary, *terms] if primary else terms
    return tuple(dict.fromkeys(plain(t) for t in ordered if t))


def _authors(entry: Any) -> tuple[str, ...]:
    people = entry.get("authors") or []
    if len(people) > 1:
        return tuple(n for p in people for n in names(p.get("name")))
    return names(entry.get("author") or (people[0].get("name") if people else ""))


def _best_arxiv(
    entry_id: str | None, link: str, summary: str | None
) -> tuple[str, int | None] | None:
    """The arXiv id from the entry id, the link or an ``arXiv:ID`` description, with
    the version from whichever of them carries one."""
    announced = re.match(r"\s*arXiv:(\S+)", summary or "")
    found = [
        parsed
        for parsed in (
            parse_arxiv_id(entry_id),
            parse_arxiv_id(link),
            parse_arxiv_id(announced.group(1)) if announced else None,
        )
        if parsed
    ]
    if not found:
        return None
    arxiv_id = found[0][0]
    versions = [v for i, v in found if i == arxiv_id and v is not None]
    return arxiv_id, versions[0] if versions else None


def _entry_paper(entry: Any, source: str, channel_day: date | None) -> Paper | None:
    link = canonical_url(entry.get("link"))
    title = plain(entry.get("title")) or link  # an untitled item is still a link worth keeping
    if not title:
        return None
    abstract = entry.get("summary") or ""
    if not abstract and entry.get("content"):
        abstract = entry["content"][0].get("value", "")
    arxiv = _best_arxiv(entry.get("id"), link, entry.get("summary"))
    categories = _categories(entry)
    announce = _announce(entry.get("arxiv_announce_type"))
    found = _legacy_title(title)
    if found:
        title, legacy = found
        announce = _LEGACY_FLAGS.get(" ".join(legacy.group("flag").split()), "new")
        arxiv = parse_arxiv_id(
            legacy.group("id") + (f"v{legacy.group('v')}" if legacy.group("v") else "")
        )
        categories = tuple(dict.fromkeys([legacy.group("cat"), *categories]))
    abstract = plain(_ANNOUNCE.sub("", abstract))
    doi = normalise_doi(
        entry.get("arxiv_doi") or entry.get("prism_doi") or entry.get("dc_identifier")
    )
    arxiv_id, version = arxiv if arxiv else (None, None)
    url = f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else link
    published = _when(entry, "published", "updated") or channel_day
    return Paper(
        id=paper_key(arxiv_id=arxiv_id, doi=doi, url=link or None, title=title),
        title=title,
        abstract=abstract,
        authors=_authors(entry),
        categories=categories,
        published=published,
        url=url,
        source=source,
        doi=doi,
        version=version,
        comment=plain(entry.get("arxiv_comment")) or None,
        announce=announce,
    )


def _not_a_feed(data: bytes, parsed: Any) -> str | None:
    if not data.strip():
        return "not a feed: the document is empty"
    if _HTML_START.match(data[:2048]):
        return "not a feed: got an HTML page"
    if not parsed.version and not parsed.entries:
        reason = parsed.get("bozo_exception")
        return f"not a feed: {reason}" if reason else "not a feed: no RSS or Atom found"
    return None


def parse_feed(data: bytes, *, source: str) -> ParseResult:
    refused = _declares_entities(data)
    if refused:
        return ParseResult(error=refused)
    # only plain text is kept (see text.plain), so feedparser's HTML sanitiser, which
    # takes quadratic time on some unclosed markup, has nothing to do
    try:
        parsed = feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False)
    except Exception as exc:  # its lenient parser raises on some broken documents
        return ParseResult(error=f"not a feed: unreadable ({type(exc).__name__}: {exc})")
    problem = _not_a_feed(data, parsed)
    if problem:
        return ParseResult(error=problem)
    channel_day = _when(parsed.feed, "updated", "published")
    result = ParseResult()
    for number, entry in enumerate(parsed.entries, 1):
        if _is_api_error(entry):
            result.error = f"the arXiv API reported an error: {plain(entry.get('summary'))}"
            continue
        paper = _entry_paper(entry, source, channel_day)
        if paper is None:
            result.warnings.append(f"entry {number} has no title or link; skipped")
        else:
            result.papers.append(paper)
    if parsed.bozo and result.error is None:
        reason = f"malformed feed: {parsed.bozo_exception}"
        if result.papers or isinstance(parsed.bozo_exception, feedparser.CharacterEncodingOverride):
            result.warnings.append(f"{reason} (kept {len(result.papers)} entries)")
        else:
            result.error = reason
    return result
