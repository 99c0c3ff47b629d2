"""Why each pick was picked: the day's picks as arrays, written out as words on demand."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from digest.models import Paper, ScoredPaper
from digest.score.profile import ProfileVector, Seeds
from digest.score.text import fold

NOTHING = "matched nothing in your profile"
"""The why of a pick that matched none of the profile: ``digest rank`` ranks every
paper, so that it says which ones are there only to be ranked."""

_WHY_LIMIT = 160
_SAID_IN_SETS = 4096


@dataclass(slots=True)
class Ranking:
    """Every profile's picks of one batch, kept as arrays; ``why`` is written on demand.

    Row ``i`` belongs to ``profiles[i]``: ``cols`` are paper positions best first (``-1``
    past the profile's picks), ``scores`` their scores, ``best_seed`` the row in
    ``seeds`` most similar to each pick (``-1`` when none is similar at all),
    ``keyword_bits`` / ``author_bits`` which of the profile's keywords / authors each
    pick matched (bit ``j`` = the ``j``-th one), ``matched`` whether the pick matched
    the profile at all (see :mod:`digest.score.batch`).
    """

    profiles: Sequence[ProfileVector]
    papers: Sequence[Paper]
    seeds: Seeds | None
    cols: np.ndarray
    scores: np.ndarray
    best_seed: np.ndarray
    keyword_bits: np.ndarray
    author_bits: np.ndarray
    matched: np.ndarray
    _said_in: dict[tuple[frozenset[str], tuple[str, ...]], dict[int, str]] = field(
        default_factory=dict
    )

    def __len__(self) -> int:
        return len(self.profiles)

    def count(self, row: int) -> int:
        return int((self.cols[row] >= 0).sum())

    def picks(self, row: int) -> list[ScoredPaper]:
        """Profile ``row``'s picks as :class:`ScoredPaper` s, ``why`` written out."""
        profile = self.profiles[row]
        name = profile.name
        keywords = list(profile.keywords)[:63]
        labels = profile.labels
        wanted = _wanted_categories(profile)
        exact, prefixes = wanted
        # what a paper's categories say for a set of wanted ones: many profiles want
        # the same few, so each (set, paper) is worked out once per ranking
        said_in = self._said_in.get(wanted)
        if said_in is None:
            said_in = (
                {} if len(self._said_in) > _SAID_IN_SETS else self._said_in.setdefault(wanted, {})
            )
        titles = self.seeds.short_titles() if self.seeds is not None else []
        papers = self.papers
        out = []
        said: dict[int, str] = {}
        cols = self.cols[row].tolist()
        count = cols.index(-1) if -1 in cols else len(cols)
        for col, score, kw_bits, au_bits, best, matched in zip(
            cols[:count],
            self.scores[row, :count].tolist(),
            self.keyword_bits[row, :count].tolist(),
            self.author_bits[row, :count].tolist(),
            self.best_seed[row, :count].tolist(),
            self.matched[row, :count].tolist(),
            strict=True,
        ):
            paper = papers[col]
            reasons = []
            if kw_bits:
                found = said.get(kw_bits)
                if found is None:
                    matched = [labels.get(k, k) for j, k in enumerate(keywords) if kw_bits >> j & 1]
                    found = said[kw_bits] = "keywords: " + ", ".join(matched[:3])
                reasons.append(found)
            if au_bits:
                reasons.append(_author_reason(paper, profile.authors[:63], au_bits))
            if exact or prefixes:
                found = said_in.get(col)
                if found is None:
                    cats = [c for c in paper.categories if c in exact or c.startswith(prefixes)]
                    found = said_in[col] = "in " + ", ".join(cats[:2]) if cats else ""
                if found:
                    reasons.append(found)
            if best >= 0:
                reasons.append(titles[best])
            if reasons:
                why = " · ".join(reasons)
            else:
                why = "similar to your interests" if matched else NOTHING
            if len(why) > _WHY_LIMIT:
                why = why[: _WHY_LIMIT - 1] + "\u2026"
            out.append(ScoredPaper(paper, round(score, 4), why, name))
        return out

    def __iter__(self) -> Iterator[list[ScoredPaper]]:
        return (self.picks(row) for row in range(len(self.profiles)))


def _wanted_categories(profile: ProfileVector) -> tuple[frozenset[str], tuple[str, ...]]:
    """Categories worth naming in ``why``: asked-for ones (and below them on a dot
    boundary), and those of at least half the seed papers."""
    asked = [c for c, w in profile.categories.items() if w < 0]
    exact = frozenset([*asked, *(c for c, w in profile.categories.items() if w >= 0.5)])
    return exact, tuple(f"{c}." for c in asked)


def _author_reason(paper: Paper, authors: Sequence[str], bits: int) -> str:
    names = {fold(a): a for a in paper.authors}
    found = [names[a] for j, a in enumerate(authors) if bits >> j & 1 and a in names]
    return "author: " + ", ".join(found[:2])


def assign_sections(
    ranked: Sequence[tuple[str, Sequence[ScoredPaper]]],
) -> list[tuple[str, list[ScoredPaper]]]:
    """One section per profile; a paper picked by several appears once, in the profile
    that scored it highest (the earlier profile on a tie)."""
    best: dict[str, tuple[float, int]] = {}
    for position, (_, papers) in enumerate(ranked):
        for sp in papers:
            current = best.get(sp.paper.id)
            if current is None or sp.score > current[0]:
                best[sp.paper.id] = (sp.score, position)
    return [
        (name, [sp for sp in papers if best[sp.paper.id][1] == position])
        for position, (name, papers) in enumerate(ranked)
    ]
