"""One paper, one identity: arXiv ids, DOIs, links and title fingerprints."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import quote, unquote_plus, urlsplit, urlunsplit

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


# Query parameters that say how a reader came to a link, not what it points to:
# campaign tags everywhere, PubMed's feed, filter and version markers, and the
# "arrived from a feed" marker of Taylor & Francis and Wiley.
_TRACKING = re.compile(r"^(?:utm_.*|fbclid|gclid|dclid|mc_cid|mc_eid|_hsenc|_hsmi|ref_?src)$", re.I)
_HOST_TRACKING = {
    "pubmed.ncbi.nlm.nih.gov": re.compile(r"^(?:fc|ff|v)$", re.I),
    "tandfonline.com": re.compile(r"^af$", re.I),
    "onlinelibrary.wiley.com": re.compile(r"^af$", re.I),
}
_SAFE = "/%:@!$&'()*+,;=~"  # left as they are: a link that needs no encoding keeps its form
_URL_JUNK = re.compile(r"[\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u2060\ufeff\ud800-\udfff]")


def canonical_url(url: str | None) -> str:
    """A link as digest stores and compares it: no tracking parameters, no fragment
    left empty, raw spaces and other unsafe characters percent-encoded, scheme and
    host in lower case. Anything that is not an http(s) URL is returned trimmed."""
    if not url:
        return ""
    url = _URL_JUNK.sub("", url).strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return quote(url, safe=_SAFE + "?#[]")
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return url
    host = parts.netloc.lower()
    drop = _HOST_TRACKING.get(host.removeprefix("www."))
    kept = [
        pair
        for pair in parts.query.split("&")
        if pair
        and not _TRACKING.match(key := unquote_plus(pair.partition("=")[0]))
        and not (drop and drop.match(key))
    ]
    return urlunsplit(
        (
            parts.scheme.lower(),
            host,
            quote(parts.path, safe=_SAFE),
            "&".join(quote(pair, safe=_SAFE + "?") for pair in kept),
            quote(parts.fragment, safe=_SAFE + "?"),
        )
    )


def title_fingerprint(title: str) -> str:
    """Accent-, case-, punctuation- and spacing-insensitive hash of a title: two
    sources that differ only by a lost space or a hyphen give the same one."""
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    letters = "".join(_WORD_RE.findall(folded))
    return hashlib.sha1(letters.encode()).hexdigest()[:20]


def paper_key(*, arxiv_id: str | None, doi: str | None, url: str | None, title: str) -> str:
    """The canonical ``Paper.id`` from the strongest identity available."""
    if arxiv_id:
        return arxiv_id
    if doi:
        return f"doi:{doi}"
    if url:
        return canonical_url(url)
    return f"title:{title_fingerprint(title)}"
