"""Templates rendered once, with holes where each reader's own values go.

A paper's part of a digest (its card and the markup around the reader's why line,
score and feedback links) is the same for every reader who gets that paper, so Jinja
renders it once per paper with a marker in place of each personal variable. Filling
it in for one reader is then a single ``bytes % tuple``, not a template render.

That is exact only when the template does nothing with a personal variable but print
it: ``{{ why }}``, never ``{{ why | upper }}`` or ``{% if why %}``. :func:`check` reads
the template's syntax tree (and every template it includes) and refuses one that
does more, naming the template, the variable and the line.

The same markers let a page template take finished parts (``{{ section.picks }}``),
which :meth:`Markers.splice` puts in place after the page is rendered.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from jinja2 import Environment, Template, TemplateError, meta, nodes
from markupsafe import Markup


class Markers:
    """Markers no paper, profile or template can contain: a NUL and a random nonce."""

    def __init__(self) -> None:
        nonce = secrets.token_hex(8)
        self._format = "\x00" + nonce + "{}\x00"
        self._split = re.compile("\x00" + nonce + r"(\d+)\x00").split
        self._marks = [Markup(self._format.format(n)) for n in range(16)]

    def mark(self, n: int) -> Markup:
        if n < len(self._marks):
            return self._marks[n]
        return Markup(self._format.format(n))

    def split(self, rendered: str) -> list[str]:
        """``[text, n, text, n, …, text]``: the text between markers, and their numbers."""
        return self._split(rendered)

    def splice(self, rendered: str, parts: Sequence[Sequence[bytes]]) -> bytes:
        """``rendered`` as UTF-8, each marker ``n`` replaced by the pieces ``parts[n]``
        (joined here, once, with the rest)."""
        pieces = self.split(rendered)
        out: list[bytes] = []
        for k, piece in enumerate(pieces):
            if k % 2:
                out += parts[int(piece)]
            else:
                out.append(piece.encode())
        return b"".join(out)


class Stencil:
    """One rendering of a template with holes; :meth:`fill` puts values in them.

    Values are given as UTF-8 bytes, already escaped for the template's kind of output
    (HTML and XML: escaped; plain text: as they are), in the order of ``names``."""

    __slots__ = ("_fmt", "_holes", "_take", "_texts")

    def __init__(self, rendered: str, markers: Markers) -> None:
        pieces = markers.split(rendered)
        self._texts = [p.encode() for p in pieces[0::2]]
        self._holes = [int(n) for n in pieces[1::2]]
        holes = self._holes
        self._fmt = b"%b".join(t.replace(b"%", b"%%") for t in self._texts)
        self._take: Callable[[Sequence[bytes]], Any]
        if len(holes) > 1:
            self._take = itemgetter(*holes)
        elif holes:
            only = holes[0]
            self._take = lambda values: (values[only],)
        else:
            self._take = lambda values: ()

    @classmethod
    def render(
        cls,
        template: Template,
        context: Mapping[str, Any],
        names: Sequence[str],
        markers: Markers,
        tails: Mapping[str, Markup] | None = None,
    ) -> Stencil:
        """Render ``template`` with a hole for each of ``names``. A hole may have a
        fixed tail (the paper's part of a per-reader link), printed right after it."""
        tails = tails or {}
        holes = {name: markers.mark(n) + tails.get(name, "") for n, name in enumerate(names)}
        return cls(template.render({**context, **holes}), markers)

    def fill(self, values: Sequence[bytes]) -> bytes:
        filled: bytes = self._fmt % self._take(values)
        return filled

    def around(self) -> tuple[bytes, bytes]:
        """What comes before and after the one hole of a stencil that has one."""
        if len(self._holes) != 1:
            raise ValueError(f"the hole is printed {len(self._holes)} times, not exactly once")
        return self._texts[0], self._texts[1]


def check(env: Environment, name: str, personal: Sequence[str]) -> None:
    """Refuse a template (or one it includes) that does more with a personal variable
    than print it; raises :class:`jinja2.TemplateError` saying where."""
    _check(env, name, frozenset(personal), set())


def _check(env: Environment, name: str, personal: frozenset[str], seen: set[str]) -> None:
    if name in seen:
        return
    seen.add(name)
    assert env.loader is not None
    source = env.loader.get_source(env, name)[0]
    tree = env.parse(source, name=name)
    printed = {
        id(node)
        for output in tree.find_all(nodes.Output)
        for node in output.nodes
        if isinstance(node, nodes.Name)
    }
    for node in tree.find_all(nodes.Name):
        if node.ctx == "load" and node.name in personal and id(node) not in printed:
            raise TemplateError(
                f"template {name!r}, line {node.lineno}: {node.name!r} is a reader's own "
                f"value and may only be printed as it is ({{{{ {node.name} }}}}); it is "
                "filled in for each reader after the template is rendered once"
            )
    for included in meta.find_referenced_templates(tree):
        if included is None:
            raise TemplateError(f"template {name!r} includes a template named at run time")
        _check(env, included, personal, seen)
