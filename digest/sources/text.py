"""Turn the HTML, entities and hard line breaks that feeds carry into plain text."""

from __future__ import annotations

import html
import re

_TAG = re.compile(r"<(?:/?[a-zA-Z][^<>]*|!--.*?--)>", re.DOTALL)
_BREAK = re.compile(r"<\s*(?:br|/p|p|/div|/li)\b[^>]*>", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
_LINK_TEXT = re.compile(r"<a\b[^>]*>(.*?)</a\s*>", re.IGNORECASE | re.DOTALL)


def plain(text: str | None) -> str:
    """Tags removed, entities decoded, all white space folded to single spaces.

    LaTeX (``$x^2$``, ``\\emph{…}``) is kept as written: it is how authors wrote it.
    """
    if not text:
        return ""
    if "<" in text:
        text = _TAG.sub("", _BREAK.sub(" ", text))
    if "&" in text:
        text = html.unescape(text)
        if "<" in text:  # entities that decoded into markup, e.g. &lt;p&gt;
            text = _TAG.sub("", _BREAK.sub(" ", text))
    return _SPACE.sub(" ", text).strip()


def names(text: str | None) -> tuple[str, ...]:
    """``"A, B and C"`` or HTML author links -> ``("A", "B", "C")``."""
    if not text:
        return ()
    linked = _LINK_TEXT.findall(text)
    if linked:
        return tuple(n for n in (plain(x) for x in linked) if n)
    flat = plain(text)
    parts = re.split(r",\s*(?:and\s+)?|\s+and\s+", flat)
    return tuple(p.strip() for p in parts if p.strip())
