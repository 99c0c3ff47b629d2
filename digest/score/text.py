"""How profiles and papers are compared as words: folded text, tokens, phrases."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from scipy import sparse


def fold(text: str) -> str:
    """Lower-case, accent-free, single-spaced: how names and phrases are compared."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(text.lower().split())


_TOKEN = re.compile(r"[a-z0-9][a-z0-9\-]*")


def tokens(text: str) -> list[str]:
    return [
        t[:-1] if len(t) > 3 and t.endswith("s") and not t.endswith("ss") else t
        for t in _TOKEN.findall(fold(text))
    ]


@lru_cache(maxsize=8192)
def _text_tokens(text: str) -> tuple[str, ...]:
    """A paper's tokens, kept: every shard of a day reads the same batch."""
    return tuple(tokens(text))


def phrase(text: str) -> str:
    return " ".join(tokens(text))


def phrase_matrix(texts: Sequence[str], phrases: Sequence[str]) -> sparse.csr_matrix:
    """Which texts contain which phrases (whole tokens, in order), as a 0/1 matrix.

    Phrases are indexed by their first token and length, so each text is read once,
    with at most one look-up per token and phrase length, whatever the number of
    phrases (100,000 profiles' keywords share many first words)."""
    single: dict[str, int] = {}
    by_first: dict[str, dict[int, dict[tuple[str, ...], int]]] = {}
    for col, wanted in enumerate(phrases):
        key = tuple(wanted.split())
        if len(key) == 1:
            single[key[0]] = col
        else:
            by_first.setdefault(key[0], {}).setdefault(len(key), {})[key] = col
    rows: list[int] = []
    cols: list[int] = []
    for row, text in enumerate(texts):
        words = _text_tokens(text)
        found = {single[t] for t in words if t in single}
        for i, token in enumerate(words):
            lengths = by_first.get(token)
            if lengths is not None:
                for length, table in lengths.items():
                    hit = table.get(tuple(words[i : i + length]))
                    if hit is not None:
                        found.add(hit)
        rows.extend([row] * len(found))
        cols.extend(found)
    return sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(texts), len(phrases))
    )


def short(title: str, limit: int = 60) -> str:
    return title if len(title) <= limit else title[: limit - 1].rsplit(" ", 1)[0] + "\u2026"
