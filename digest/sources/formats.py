"""Which parser reads which bytes: detection and dispatch."""

from __future__ import annotations

import dataclasses
import gzip
import io
from collections.abc import Callable

from digest.identity import canonical_url
from digest.models import Paper, ParseResult
from digest.sources.feed import parse_feed
from digest.sources.hf import parse_hf_api, parse_hf_page
from digest.sources.jsonl import parse_jsonl
from digest.sources.text import clean

FORMATS: tuple[str, ...] = ("feed", "hf-api", "jsonl", "hf-page")
PARSERS: dict[str, Callable[..., ParseResult]] = {
    "feed": parse_feed,
    "hf-api": parse_hf_api,
    "jsonl": parse_jsonl,
    "hf-page": parse_hf_page,
}


MAX_UNZIPPED = 512 * 2**20  # a gzip bomb stops here instead of filling the memory


class TooLarge(ValueError):
    pass


def _unzip(data: bytes) -> bytes:
    """``data`` with gzip undone, at most ``MAX_UNZIPPED`` bytes of it (``TooLarge``
    beyond)."""
    if data[:2] != b"\x1f\x8b":
        return data
    limit = MAX_UNZIPPED
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as unzipped:
        out = unzipped.read(limit + 1)
    if len(out) > limit:
        raise TooLarge(f"larger than {limit // 2**20} MiB once unzipped")
    return out


def detect_format(data: bytes, name: str = "") -> str:
    """Sniff the content; the file name only breaks ties. ``ValueError`` if unknown."""
    head = data[:4096]
    if head[:2] == b"\x1f\x8b":
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as unzipped:
            head = unzipped.read(4096)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16, as XML allows
        head = head.decode("utf-16", "replace").encode("utf-8", "replace")
    head = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    lower = name.lower().removesuffix(".gz")
    if head.startswith(b"<"):
        return "feed"
    if head.startswith(b"["):
        return "hf-api"
    if head.startswith(b"{") or lower.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if lower.endswith((".xml", ".rss", ".rdf", ".atom")):
        return "feed"
    if head:
        return "hf-page"
    raise ValueError(f"cannot tell the format of {name or 'the input'}: it is empty")


def parse(data: bytes, *, source: str, format: str | None = None) -> ParseResult:
    """Parse ``data`` (gzip is undone first); bad input gives ``error``, never raises."""
    try:
        data = _unzip(data)
    except (OSError, EOFError) as exc:
        return ParseResult(error=f"broken gzip data: {exc}")
    except TooLarge as exc:
        return ParseResult(error=f"refused: {exc}")
    if format is None:
        try:
            format = detect_format(data, source)
        except ValueError:
            return ParseResult(error="not a feed: the document is empty")
    if format not in PARSERS:
        return ParseResult(error=f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
    return _tidy(PARSERS[format](data, source=source))


def _tidy(result: ParseResult) -> ParseResult:
    """Every paper's text as plain one-line Unicode, whatever the parser let through;
    a paper whose title was nothing but junk characters is dropped."""
    kept = []
    for paper in result.papers:
        tidy = _tidy_paper(paper)
        if tidy.title:
            kept.append(tidy)
        else:
            result.warnings.append(f"a paper with an empty title ({paper.id[:60]!r}); skipped")
    if result.papers and not kept and result.error is None:
        result.error = "no paper has a title"
    result.papers = kept
    return result


def _tidy_paper(paper: Paper) -> Paper:
    return dataclasses.replace(
        paper,
        id=clean(paper.id),
        title=clean(paper.title),
        abstract=clean(paper.abstract),
        authors=tuple(a for a in map(clean, paper.authors) if a),
        categories=tuple(c for c in map(clean, paper.categories) if c),
        url=canonical_url(paper.url),
        comment=clean(paper.comment) or None,
    )
