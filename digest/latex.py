"""LaTeX in titles and abstracts (``$\\beta$-Stars``, ``\\emph{…}``, ``$O(\\log n)$``)
as Unicode text, for readers: the email, its plain-text part and feeds.

The stored text keeps the LaTeX as the authors wrote it; this runs once per paper
when its picks are rendered. Math stays readable as text (``O(log n)``, ``x_i^2``,
``β``), and anything the converter cannot read is shown as it was.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from pylatexenc import macrospec
from pylatexenc.latex2text import (
    LatexNodes2Text,
    MacroTextSpec,
    get_default_latex_context_db,
)
from pylatexenc.latexwalker import LatexWalker
from pylatexenc.latexwalker import get_default_latex_context_db as parser_context

# what looks like LaTeX: a command (\emph, \beta), an escaped character (\%), or math
_LATEX = re.compile(r"\\(?:[A-Za-z]+|[%&$#_{}\\,;!'\"`^~=.])|\$[^$]+\$")
# a bare % starts a LaTeX comment and a bare & is a table column: in an abstract,
# both are plain characters ("a 50% gain", "R&D")
_BARE = re.compile(r"(?<!\\)([%&])")
_UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")
_SPACE = re.compile(r"\s+")
_OPENING_SPACE = re.compile(r"([(\[{]) ")


def _unknown(node: Any, l2tobj: LatexNodes2Text) -> str:
    return str(node.macro_post_space or "")


def _converter() -> tuple[LatexNodes2Text, object]:
    text_db = get_default_latex_context_db()
    text_db.add_context_category(
        "digest",
        prepend=True,
        macros=[
            MacroTextSpec("texttt", "%(1)s"),
            MacroTextSpec("url", "%(1)s"),
            MacroTextSpec("href", "%(2)s"),
            MacroTextSpec("cite", ""),
            # operators print as words followed by their argument: "log n", not "logn"
            *(MacroTextSpec(op, f" {op} ") for op in ("log", "exp", "sin", "cos", "max", "min")),
        ],
    )
    # an unknown command goes, but not the space after it, and a group after it
    # stays text ("\foo{bar}" -> "bar")
    text_db.set_unknown_macro_spec(MacroTextSpec("", simplify_repl=_unknown))
    parse_db = parser_context()
    parse_db.add_context_category(
        "digest", prepend=True, macros=[macrospec.MacroSpec("href", "{{")]
    )
    return LatexNodes2Text(latex_context=text_db, math_mode="text", strict_latex_spaces=False), (
        parse_db
    )


_TO_TEXT, _PARSE_DB = _converter()


# the parts of a text that are LaTeX, parsed one by one (a parser that reads every
# character of a 2,000-character abstract costs milliseconds; the plain words between
# need no reading): math, a command with its argument groups, a {\\it …} group, an
# accented letter, an escaped character
_SEGMENT = re.compile(
    r"\$[^$]+\$"
    r"|\{\\[A-Za-z]+\s[^{}]*\}"
    r"|\\[A-Za-z]+\*?(?:\s*\{(?:[^{}]|\{[^{}]*\})*\})*"
    r"|\\['\"`^~=.](?:\{[^{}]*\}|[A-Za-z])?"
    r"|\\[%&$#_{}\\,;!<>]"
)


@functools.lru_cache(maxsize=4096)
def to_text(text: str) -> str:
    """``text`` with its LaTeX turned into Unicode; text without any is returned as
    it is."""
    if not _LATEX.search(text):
        return text
    if len(_UNESCAPED_DOLLAR.findall(text)) % 2:
        return _convert(text) or text  # a lone $ (a price) changes what the rest means
    converted = _SEGMENT.sub(lambda m: _convert(m.group(0)), text)
    return _OPENING_SPACE.sub(r"\1", _SPACE.sub(" ", converted)).strip() or text


@functools.lru_cache(maxsize=16384)
def _convert(text: str) -> str:
    source = _BARE.sub(r"\\\1", text)
    if len(_UNESCAPED_DOLLAR.findall(source)) % 2:
        source = _UNESCAPED_DOLLAR.sub(r"\\$", source)  # a lone $ is a price, not math
    try:
        nodes = LatexWalker(source, latex_context=_PARSE_DB, tolerant_parsing=True)
        converted = _TO_TEXT.nodelist_to_text(nodes.get_latex_nodes()[0])
    except Exception:  # the converter's own failures: never worse than the raw text
        return text
    return _OPENING_SPACE.sub(r"\1", _SPACE.sub(" ", converted)).strip()
