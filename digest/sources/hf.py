"""Hugging Face Daily Papers: the API's JSON, and the visible text of its web page."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Any

from digest.identity import paper_key, parse_arxiv_id
from digest.models import Paper, ParseResult
from digest.sources.text import plain

_HEADER = re.compile(
    r"^(?:new|subscribe|daily papers|byak and the research community"
    r"|get trending papers in your email inbox.*|[a-z]{3} \d{1,2})$",
    re.IGNORECASE,
)


def _iso_day(text: Any) -> date | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def _api_paper(item: Any, source: str) -> Paper | None:
    paper = item.get("paper", item) if isinstance(item, dict) else None
    if not isinstance(paper, dict):
        return None
    title = plain(paper.get("title") or item.get("title"))
    if not title:
        return None
    arxiv = parse_arxiv_id(str(paper.get("id", "")))
    arxiv_id, version = arxiv if arxiv else (None, None)
    authors = tuple(plain(a.get("name")) for a in paper.get("authors") or [] if isinstance(a, dict))
    upvotes = paper.get("upvotes")
    return Paper(
        id=paper_key(arxiv_id=arxiv_id, doi=None, url=None, title=title),
        title=title,
        abstract=plain(paper.get("summary") or item.get("summary")),
        authors=tuple(a for a in authors if a),
        published=_iso_day(paper.get("publishedAt") or item.get("publishedAt")),
        # the arXiv abstract page is the stable link every other source agrees on
        url=f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else "",
        source=source,
        version=version,
        upvotes=upvotes if isinstance(upvotes, int) else None,
    )


def parse_hf_api(data: bytes, *, source: str) -> ParseResult:
    try:
        items = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return ParseResult(error=f"not Hugging Face API JSON: {exc}")
    except RecursionError:
        return ParseResult(error="not Hugging Face API JSON: nested too deeply")
    if not isinstance(items, list):
        return ParseResult(error="not Hugging Face API JSON: expected a list of papers")
    result = ParseResult()
    for number, item in enumerate(items, 1):
        paper = _api_paper(item, source)
        if paper is None:
            result.warnings.append(f"item {number} is not a paper; skipped")
        else:
            result.papers.append(paper)
    return result


_BRAND = re.compile(r"^(?:daily papers|get trending papers in your email inbox)", re.IGNORECASE)
_TITLE_MAX = 300
_ABSTRACT_MIN = 200
_PAIRS_WITHOUT_HEADER = 3


def _looks_like_page(header: list[str], body: list[str]) -> bool:
    """The page's own header, or enough lines alternating between a short title and a
    long abstract: any other text (a README, a "Service unavailable" page) would
    otherwise become papers with empty links."""
    pairs = list(zip(body[::2], body[1::2], strict=False))
    if not pairs:
        return False
    well_formed = all(
        len(title) <= _TITLE_MAX and len(abstract) >= _ABSTRACT_MIN and len(abstract) > len(title)
        for title, abstract in pairs
    )
    branded = any(_BRAND.match(line) for line in header)
    return well_formed and (branded or len(pairs) >= _PAIRS_WITHOUT_HEADER)


def parse_hf_page(data: bytes, *, source: str) -> ParseResult:
    """Header lines, then title and abstract alternating, one per line."""
    lines = [line.strip() for line in data.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    start = 0
    while start < len(lines) and _HEADER.match(lines[start]):
        start += 1
    body = lines[start:]
    if body and body[0].startswith("Subscribe") and len(body[0]) > len("Subscribe"):
        body[0] = body[0].removeprefix("Subscribe")
    if not _looks_like_page(lines[:start], body[: len(body) - len(body) % 2]):
        return ParseResult(
            error="not a recognised format: plain text, but not a Hugging Face Daily Papers "
            "page (its header, then title and abstract lines alternating)"
        )
    result = ParseResult()
    if len(body) % 2:
        result.warnings.append(f"last title has no abstract: {body[-1][:60]!r}")
    for title, abstract in zip(body[::2], body[1::2], strict=False):
        clean = plain(title)
        result.papers.append(
            Paper(
                id=paper_key(arxiv_id=None, doi=None, url=None, title=clean),
                title=clean,
                abstract=plain(abstract),
                source=source,
            )
        )
    if not result.papers:
        result.error = "no papers found in the page text"
    return result
