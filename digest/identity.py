"""One paper, one identity: arXiv ids, DOIs, links and title fingerprints."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_NEW_ID = r"\d{4}\.\d{4,5}"
_OLD_ID = r"[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7}"
_ARXIV_RE = re.compile(
    rf"(?:arxiv\.org/(?:abs|pdf|html)/|oai:arxiv\.org:|arxiv:|^)\s*"
    rf"(?P<id>{_NEW_ID}|{_OLD_ID})(?:v(?P<version>\d+))?(?:\.pdf)?\s*$",
    re.IGNORECASE,
)
_DOI_RE = re.compile(r"(10\.\d{4,9}/[!-~]+)", re.IGNORECASE)  # printable ASCII only
_WORD_RE = re.compile(r"[a-z0-9]+")


def parse_arxiv_id(text: str | None) -> tuple[str, int | None] | None:
    """``"arXiv:2401.01234v2"`` -> ``("2401.01234", 2)``; ``None`` if not an arXiv id.

    Accepts bare ids, ``arXiv:`` and ``oai:arXiv.org:`` prefixes, abs/pdf URLs, and
    old-style ids such as ``astro-ph/0601001`` or ``math.GT/0309136``.
    """
    if not text:
        return None
    match = _ARXIV_RE.search(text.strip().rstrip("/"))
    if not match:
        return None
    arxiv_id = match.group("id")
    if "/" in arxiv_id:
        archive, number = arxiv_id.split("/")
        head, _, sub = archive.partition(".")
        arxiv_id = f"{head.lower()}{'.' + sub.upper() if sub else ''}/{number}"
    version = match.group("version")
    return arxiv_id, int(version) if version else None


def normalise_doi(text: str | None) -> str | None:
    """Lower-cased bare DOI from ``doi:…``, ``https://doi.org/…`` or plain text."""
    if not text:
        return None
    match = _DOI_RE.search(text.strip())
    if not match:
        return None
    return match.group(1).rstrip(".,;").lower()


def normalise_url(url: str | None) -> str | None:
    if not url:
        return None
    url = url.strip()
    url = re.sub(r"^http://", "https://", url, flags=re.IGNORECASE)
    return url.rstrip("/") or None


def title_fingerprint(title: str) -> str:
    """Accent-, case- and punctuation-insensitive hash of a title."""
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    words = " ".join(_WORD_RE.findall(folded))
    return hashlib.sha1(words.encode()).hexdigest()[:20]


def paper_key(*, arxiv_id: str | None, doi: str | None, url: str | None, title: str) -> str:
    """The canonical ``Paper.id`` from the strongest identity available."""
    if arxiv_id:
        return arxiv_id
    if doi:
        return f"doi:{doi}"
    if url:
        return url
    return f"title:{title_fingerprint(title)}"
