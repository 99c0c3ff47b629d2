"""Turn the HTML, entities and hard line breaks that feeds carry into plain text."""

from __future__ import annotations

import html
import re
import unicodedata

# Every pattern here stops at the next "<", so text of any length is read in linear
# time, however much unclosed markup it holds.
_TAG = re.compile(r"</?[a-zA-Z][^<>]*>")
_BREAK = re.compile(r"<\s*(?:br|/p|p|/div|/li)\b[^<>]*>", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
_ODD_SPACE = re.compile(r"\s\s|[^\S ]")
_LINK_TEXT = re.compile(r"<a\b[^<>]*>((?:[^<]|<(?!/?a\b))*+)</a\s*>", re.IGNORECASE)


_HIDDEN_OPEN = re.compile(r"<(script|style)\b[^<>]*>", re.IGNORECASE)
_HIDDEN_CLOSE = {
    "script": re.compile(r"</script\s*>", re.IGNORECASE),
    "style": re.compile(r"</style\s*>", re.IGNORECASE),
}


def _unscript(text: str) -> str:
    """What is between ``<script>`` or ``<style>`` and its end tag is not text."""
    kept: list[str] = []
    start = 0
    unclosed: set[str] = set()
    for opening in _HIDDEN_OPEN.finditer(text):
        name = opening.group(1).lower()
        if opening.start() < start or name in unclosed:
            continue
        closing = _HIDDEN_CLOSE[name].search(text, opening.end())
        if closing is None:
            unclosed.add(name)  # and no later one can close either: one search a name
            continue
        kept.append(text[start : opening.start()])
        start = closing.end()
    kept.append(text[start:])
    return "".join(kept)


def _untag(text: str) -> str:
    return _TAG.sub("", _BREAK.sub(" ", _unscript(_uncomment(text))))


def _uncomment(text: str) -> str:
    """``<!-- … -->`` removed; an unclosed one loses only its opening marker."""
    kept: list[str] = []
    start = 0
    while (opening := text.find("<!--", start)) >= 0:
        kept.append(text[start:opening])
        closing = text.find("-->", opening + 4)
        if closing < 0:  # and no later one is closed either
            kept.append(text[opening:].replace("<!--", ""))
            return "".join(kept)
        start = closing + 3
    kept.append(text[start:])
    return "".join(kept)


# What a feed may carry that no reader should get: lone surrogates (invalid UTF-8
# decoded leniently, or JSON escapes), control characters, and invisible format
# characters (byte-order marks, zero-width spaces and joiners, soft hyphens, bidi
# overrides, tag characters) that make equal titles differ.
_JUNK = re.compile(
    "[\x00-\x08\x0e-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff\U000e0000-\U000e007f]"
)


def clean(text: str | None) -> str:
    """One line of plain Unicode text: junk characters out, white space folded, NFC."""
    if not text:
        return ""
    if not text.isascii():
        text = unicodedata.normalize("NFC", _JUNK.sub("", text))
    elif _JUNK.search(text):
        text = _JUNK.sub("", text)
    if _ODD_SPACE.search(text):  # most text has none: a scan is cheaper than a rewrite
        text = _SPACE.sub(" ", text)
    return text.strip()


def plain(text: str | None) -> str:
    """Tags removed, entities decoded, all white space folded to single spaces.

    LaTeX (``$x^2$``, ``\\emph{…}``) is kept as written: it is how authors wrote it.
    """
    if not text:
        return ""
    if "<" in text:
        text = _untag(text)
    if "&" in text:
        text = html.unescape(text)
        if "<" in text:  # entities that decoded into markup, e.g. &lt;p&gt;
            text = _untag(text)
    return clean(text)


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
