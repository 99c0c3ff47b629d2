"""LaTeX in titles and abstracts becomes readable Unicode text."""

from __future__ import annotations

import pytest

from digest.latex import to_text
from digest.sources.formats import parse
from tests.conftest import FIXTURES


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (r"$\beta$-Stars: \emph{Dense} Cores", "β-Stars: Dense Cores"),
        (r"routing in $O(\log n)$ hops", "routing in O(log n) hops"),
        (r"$\mathcal O(N\log N)$ time", "\N{MATHEMATICAL SCRIPT CAPITAL O}(N log N) time"),
        (r"a $1-1/e-\epsilon$ approximation", "a 1-1/e-ϵ approximation"),
        (r"$99.51\pm0.03$\% pure", "99.51±0.03% pure"),
        (r"$x_{i}^{2} \leq \alpha$", "x_i^2≤\N{GREEK SMALL LETTER ALPHA}"),
        (r"{\it observation map} and \textbf{bold}", "observation map and bold"),
        (r"the \texttt{systemd init} system", "the systemd init system"),
        (r"Schr\"{o}dinger and Erd\H{o}s", "Schrödinger and Erdős"),
        (r"\unknown{kept} words", "kept words"),
    ],
)
def test_latex_becomes_unicode(raw: str, shown: str) -> None:
    assert to_text(raw) == shown


@pytest.mark.parametrize(
    "text",
    [
        "A 50% gain in R&D",  # % and & are characters here, not a comment or a column
        "It costs $5 a month",  # one $ is a price
        "No LaTeX at all: <b>markup</b> &amp; entities stay for the escaper",
    ],
)
def test_text_that_is_not_latex_is_left_as_it_is(text: str) -> None:
    assert to_text(text) == text


def test_real_abstracts_keep_their_words_and_lose_their_markup() -> None:
    feed = FIXTURES / "feeds/arxiv-rss/legacy_export_rss_rdf_cs_2018-08-30.rdf"
    papers = parse(feed.read_bytes(), source="legacy").papers
    with_latex = [p for p in papers if "$" in p.abstract]
    assert len(with_latex) >= 10
    for paper in with_latex:
        shown = to_text(paper.abstract)
        assert "$" not in shown and "\\" not in shown, shown
        # nothing swallowed: the abstract's last plain word is still there
        last = [w for w in paper.abstract.split() if w.isalpha()][-1]
        assert last in shown.split()[-12:], shown
