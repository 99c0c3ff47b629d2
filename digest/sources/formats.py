"""Which parser reads which bytes: detection and dispatch."""

from __future__ import annotations

import gzip
from collections.abc import Callable

from digest.models import ParseResult
from digest.sources.feed import parse_feed
from digest.sources.hf import parse_hf_api, parse_hf_page
from digest.sources.jsonl import parse_jsonl

FORMATS: tuple[str, ...] = ("feed", "hf-api", "jsonl", "hf-page")
PARSERS: dict[str, Callable[..., ParseResult]] = {
    "feed": parse_feed,
    "hf-api": parse_hf_api,
    "jsonl": parse_jsonl,
    "hf-page": parse_hf_page,
}


def _unzip(data: bytes) -> bytes:
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def detect_format(data: bytes, name: str = "") -> str:
    """Sniff the content; the file name only breaks ties. ``ValueError`` if unknown."""
    head = _unzip(data)[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
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
    if format is None:
        try:
            format = detect_format(data, source)
        except ValueError:
            return ParseResult(error="not a feed: the document is empty")
    if format not in PARSERS:
        return ParseResult(error=f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
    return PARSERS[format](data, source=source)
