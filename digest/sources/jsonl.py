"""JSON Lines batches: one paper per line, as daily arXiv digests and our corpus write them.

Known quirks: ``authors`` and ``categories`` may be a JSON list or the Python repr of
one (``"['cs.GT']"``); ``comment`` may be the string ``"None"``; the abstract is
``summary`` or ``abstract``; the link is ``abs``, ``url`` or ``link``.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from datetime import date
from typing import Any

from digest.identity import canonical_url, normalise_doi, paper_key, parse_arxiv_id
from digest.models import Paper, ParseResult
from digest.sources.text import plain


def _listish(value: Any) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        return tuple(str(v).strip() for v in value if str(v).strip())
    if not isinstance(value, str) or not value.strip():
        return ()
    text = value.strip()
    if text.startswith("["):
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            parsed = None
        if isinstance(parsed, list | tuple):
            return tuple(str(v).strip() for v in parsed if str(v).strip())
        text = text.strip("[]")
    separator = "," if "," in text else " "
    return tuple(p.strip().strip("'\"") for p in text.split(separator) if p.strip())


def _day(value: Any) -> date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def record_paper(record: dict[str, Any], source: str) -> Paper:
    """One record (one with a title, see :func:`records`) as a paper. Its id is the
    canonical key of :func:`digest.identity.paper_key` whatever id the record gave, so
    that the store knows a paper again whichever source announced it."""
    title = _text(record.get("title"))
    if "<" in title or "&" in title or "\n" in title:
        title = plain(title)
    abstract = _text(record.get("abstract") or record.get("summary"))
    abstract = (
        plain(abstract) if ("<" in abstract or "&" in abstract) else " ".join(abstract.split())
    )
    link = canonical_url(_text(record.get("abs") or record.get("url") or record.get("link")))
    arxiv = parse_arxiv_id(str(record.get("id", ""))) or parse_arxiv_id(link)
    arxiv_id, version = arxiv if arxiv else (None, None)
    doi = normalise_doi(_text(record.get("doi")))
    comment = record.get("comment")
    return Paper(
        id=paper_key(arxiv_id=arxiv_id, doi=doi, url=link or None, title=title),
        title=" ".join(title.split()),
        abstract=abstract,
        authors=_listish(record.get("authors")),
        categories=_listish(record.get("categories")),
        published=_day(record.get("date") or record.get("published")),
        url=f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else link,
        source=source,
        doi=doi,
        version=version,
        comment=comment if isinstance(comment, str) and comment not in ("", "None") else None,
    )


def records(data: bytes) -> Iterator[tuple[dict[str, Any] | None, str | None]]:
    """Each non-blank line as ``(record, None)``, or ``(None, why it was skipped)``."""
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            yield (
                None,
                (f"line {number}: not JSON ({exc.msg if hasattr(exc, 'msg') else exc}); skipped"),
            )
            continue
        except RecursionError:
            yield None, f"line {number}: JSON nested too deeply; skipped"
            continue
        if isinstance(record, dict) and _text(record.get("title")):
            yield record, None
        else:
            yield None, f"line {number}: no title; skipped"


def parse_jsonl(data: bytes, *, source: str) -> ParseResult:
    result = ParseResult()
    for record, skipped in records(data):
        if record is None:
            result.warnings.append(str(skipped))
        else:
            result.papers.append(record_paper(record, source))
    if not result.papers and result.warnings:
        result.error = f"no paper could be read ({result.warnings[0]})"
    return result
