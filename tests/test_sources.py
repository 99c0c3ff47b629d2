"""Every real input in tests/fixtures parses to the exact papers it holds."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from digest.models import ParseResult
from digest.sources.formats import detect_format, parse
from tests.conftest import FIXTURES

FEEDS = FIXTURES / "feeds"

# (file, format, papers, error substring or None) for every fixture file
EXPECTED = [
    ("feeds/arxiv-api/api_query_transformer_cs.LG_2026-06-14.xml", "feed", 5, None),
    ("feeds/arxiv-api/id_0000.0000_s0_m100_8b51d9633a68.body.xml", "feed", 0, None),
    ("feeds/arxiv-api/id_0808.05394_1707.08567_s0_m100_42e5aa0ec3af.body.xml", "feed", 1, None),
    ("feeds/arxiv-api/id_2104.12255v1_s0_m100_6ae69987ffe1.body.xml", "feed", 1, None),
    (
        "feeds/arxiv-api/id_abc_s0_m100_b79c8dcf6bc3.body.xml",
        "feed",
        0,
        "arXiv API reported an error",
    ),
    ("feeds/arxiv-api/id_astro-ph_0601001_s0_m100_3150dca9dc76.body.xml", "feed", 1, None),
    ("feeds/arxiv-api/legacy2016_id_list_1111.2011v2.xml", "feed", 1, None),
    ("feeds/arxiv-api/legacy2016_search_au_del_maestro.xml", "feed", 10, None),
    ("feeds/arxiv-api/legacy2016_search_au_del_maestro_ANDNOT.xml", "feed", 10, None),
    ("feeds/arxiv-api/q_testing_s0_m100_cfe7536492ca.body.xml", "feed", 100, None),
    ("feeds/arxiv-rss/legacy_export_rss_rdf_cs_2018-08-30.rdf", "feed", 185, None),
    (
        "feeds/arxiv-rss/rss_arxiv_org_cs.LG+cs.AI+cs.CL+stat.ML_2026-09-24_trimmed4items.xml",
        "feed",
        4,
        None,
    ),
    ("feeds/hf-daily/hf_daily_papers_api_2026-05-29_30items.json", "hf-api", 30, None),
    ("feeds/illformed/aaa_illformed.xml", "feed", 0, "malformed feed"),
    ("feeds/illformed/always_strip_doctype.xml", "feed", 0, None),
    ("feeds/illformed/chardet_koi8r.xml", "feed", 1, None),
    ("feeds/illformed/chardet_shiftjis.xml", "feed", 1, None),
    ("feeds/illformed/http_high_bit_date.xml", "feed", 0, None),
    ("feeds/illformed/rdf_channel_empty_textinput.xml", "feed", 1, None),
    ("feeds/illformed/rss_empty_document.xml", "feed", 0, "not a feed"),
    ("feeds/illformed/rss_incomplete_cdata.xml", "feed", 0, "malformed feed"),
    ("feeds/illformed/rss_item_link_corrupted_ampersands.xml", "feed", 1, None),
    ("feeds/illformed/undeclared_namespace.xml", "feed", 0, "malformed feed"),
    ("feeds/other/feedforall_sample_rss2_html_descriptions.xml", "feed", 9, None),
    ("feeds/other/html-error-page-served-as-feed.xml", "feed", 0, "not a feed: got an HTML page"),
    ("feeds/other/jstage-atom-no-entries.xml", "feed", 0, None),
    ("feeds/other/ojs-atom.xml", "feed", 9, None),
    ("feeds/other/tandfonline-rss1-rdf.xml", "feed", 13, None),
    ("batches/2026-06-29.jsonl", "jsonl", 230, None),
    ("batches/2026-06-30.jsonl", "jsonl", 674, None),
    ("batches/2026-07-01.jsonl", "jsonl", 371, None),
    ("hf-pages/page-a.txt", "hf-page", 76, None),
    ("hf-pages/page-b.txt", "hf-page", 120, None),
    ("hf-pages/page-c.txt", "hf-page", 119, None),
]


def load(name: str) -> ParseResult:
    path = FIXTURES / name
    return parse(path.read_bytes(), source=path.name)


def test_every_fixture_file_is_listed() -> None:
    on_disk = {
        str(p.relative_to(FIXTURES))
        for p in FIXTURES.rglob("*")
        if p.is_file() and p.suffix != ".md" and p.parent.name != "bounces"  # mail, not sources
    }
    assert on_disk == {name for name, *_ in EXPECTED}


@pytest.mark.parametrize(("name", "fmt", "count", "error"), EXPECTED, ids=[e[0] for e in EXPECTED])
def test_counts_formats_and_errors(name: str, fmt: str, count: int, error: str | None) -> None:
    data = (FIXTURES / name).read_bytes()
    assert detect_format(data, name) == fmt
    result = parse(data, source=name)
    assert len(result.papers) == count
    if error is None:
        assert result.error is None
    else:
        assert error in (result.error or "")


@pytest.mark.parametrize(
    "name", [e[0] for e in EXPECTED if e[0].startswith(("feeds/arxiv", "feeds/other"))]
)
def test_no_markup_survives(name: str) -> None:
    for paper in load(name).papers:
        for text in (paper.title, paper.abstract, *paper.authors):
            assert not re.search(r"</?[a-zA-Z][^<>]*>", text), text
            assert "&amp;" not in text and "&lt;" not in text, text
            assert "\n" not in text and "  " not in text


def test_legacy_arxiv_rss() -> None:
    papers = load("feeds/arxiv-rss/legacy_export_rss_rdf_cs_2018-08-30.rdf").papers
    first = papers[0]
    assert first.id == "1808.09955" and first.version == 1
    assert first.title == (
        "QuasarNET: Human-level spectral classification and redshifting with Deep Neural Networks"
    )
    assert first.authors[:2] == ("Nicolas Busca", "Christophe Balland")
    assert first.categories[0] == "astro-ph.IM"
    assert first.published == date(2018, 8, 30)
    assert first.abstract.startswith("We introduce QuasarNET, a deep convolutional")
    assert "\\emph{feature detection}" in first.abstract
    assert not any(
        "arXiv:" in p.title or (p.title.endswith(")") and "UPDATED" in p.title) for p in papers
    )


def test_current_arxiv_rss() -> None:
    papers = load(
        "feeds/arxiv-rss/rss_arxiv_org_cs.LG+cs.AI+cs.CL+stat.ML_2026-09-24_trimmed4items.xml"
    ).papers
    first, second, cross = papers[0], papers[1], papers[2]
    assert first.id == "2609.26811" and first.version == 1
    assert first.abstract.startswith("Local learning trains each layer")
    assert "Announce Type" not in first.abstract
    assert second.authors == ("Naser Mansour", "Sidahmed Benabderrahmane", "Ameer Rahwan")
    assert cross.doi == "10.1093/bioinformatics/btac431"
    assert cross.categories == ("stat.ME", "stat.AP", "stat.ML")
    assert first.published == date(2026, 9, 24)
    assert first.url == "https://arxiv.org/abs/2609.26811"


def test_arxiv_api_old_style_ids_and_metadata() -> None:
    (paper,) = load("feeds/arxiv-api/id_astro-ph_0601001_s0_m100_3150dca9dc76.body.xml").papers
    assert paper.id == "astro-ph/0601001" and paper.version == 1
    assert paper.authors[0] == "Andrew Gould" and len(paper.authors) == 4
    assert paper.categories[0] == "astro-ph"
    assert paper.published == date(2006, 1, 2)
    assert paper.comment and paper.comment.startswith("62 pages")


def test_arxiv_api_2016_line_breaks_are_folded() -> None:
    for paper in load("feeds/arxiv-api/legacy2016_search_au_del_maestro.xml").papers:
        assert "\n" not in paper.title and "\n" not in paper.abstract


def test_hf_api_keeps_upvotes_and_links_to_arxiv() -> None:
    papers = load("feeds/hf-daily/hf_daily_papers_api_2026-05-29_30items.json").papers
    first = papers[0]
    assert first.id == "2606.00467"
    assert first.authors == ("Etienne Casanova", "Rafal Kocielnik", "R. Michael Alvarez")
    assert first.url == "https://arxiv.org/abs/2606.00467"
    assert all(p.upvotes is not None for p in papers)
    assert first.published == date(2026, 5, 30)


def test_hf_pages_skip_headers_and_the_glued_subscribe() -> None:
    a = load("hf-pages/page-a.txt").papers
    b = load("hf-pages/page-b.txt").papers
    c = load("hf-pages/page-c.txt").papers
    assert a[0].title.startswith("3DGS-DET: Empower 3D Gaussian Splatting")
    assert (
        b[0].title == "Dis-inhibitory neuronal circuits can control the sign of synaptic plasticity"
    )
    assert c[0].title.startswith("Language Arithmetics")
    assert b[0].abstract.startswith("How neuronal circuits achieve credit assignment")
    assert not any(p.title.startswith(("Subscribe", "Get trending")) for p in a + b + c)
    shared = {p.id for p in b} & {p.id for p in c}
    assert any("Neural Circuit Architectural Priors" in p.title for p in b if p.id in shared)


MARKDOWN = b"""# digest

A self-hosted, personalised daily digest of new research papers.

## Quick start

On a fresh machine with Python 3.11:

```sh
python3 -m pip install . && digest demo
```
"""


@pytest.mark.parametrize(
    "text",
    [
        MARKDOWN,
        b"Service temporarily unavailable\nPlease try again in a few minutes.\n",
        # a header alone does not make a page: the lines after it must alternate
        b"Daily Papers\nMar 11\nLoading...\nSomething went wrong.\n",
    ],
    ids=["markdown", "unavailable", "header-only"],
)
def test_text_that_is_not_a_daily_papers_page_is_refused(text: bytes) -> None:
    result = parse(text, source="page.txt")
    assert result.papers == []
    assert (result.error or "").startswith("not a recognised format")
    assert parse(text, source="page.txt", format="hf-page").error == result.error


def test_page_text_without_the_header_needs_several_title_abstract_pairs() -> None:
    lines = (FIXTURES / "hf-pages/page-a.txt").read_text().splitlines()
    body = [line for line in lines if line.strip()][7:]
    assert len(parse("\n".join(body[:6]).encode(), source="p").papers) == 3
    assert parse("\n".join(body[:4]).encode(), source="p").error is not None


def test_jsonl_batches_with_repr_strings_and_none_comments() -> None:
    for name in (
        "batches/2026-06-29.jsonl",
        "batches/2026-06-30.jsonl",
        "batches/2026-07-01.jsonl",
    ):
        for paper in load(name).papers:
            assert isinstance(paper.categories, tuple) and paper.categories
            assert all(not c.startswith(("[", "'")) for c in paper.categories)
            assert all(not a.startswith(("[", "'")) for a in paper.authors)
            assert paper.comment != "None"
    first = load("batches/2026-06-29.jsonl").papers[0]
    assert first.id == "2606.27531" and first.categories == ("cs.CE",)
    assert first.authors[0] == "Ankur Purao"


def test_batches_repeat_cross_listed_papers_which_share_one_id() -> None:
    unique = {
        name: len({p.id for p in load(name).papers})
        for name in (
            "batches/2026-06-29.jsonl",
            "batches/2026-06-30.jsonl",
            "batches/2026-07-01.jsonl",
        )
    }
    assert unique == {
        "batches/2026-06-29.jsonl": 166,
        "batches/2026-06-30.jsonl": 532,
        "batches/2026-07-01.jsonl": 301,
    }


def test_a_bad_jsonl_line_is_skipped_with_its_number() -> None:
    data = b'{"id": "2401.00001", "title": "A", "summary": "x"}\n{broken\n{"id": "2401.00002", "title": "B"}\n'
    result = parse(data, source="x.jsonl")
    assert [p.id for p in result.papers] == ["2401.00001", "2401.00002"]
    assert result.error is None and result.warnings[0].startswith("line 2")


def test_repr_string_lists() -> None:
    data = b'{"id": "2401.00001", "title": "A", "categories": "[\'cs.GT\', \'econ.TH\']", "authors": "[\'Ann Lee\', \'Bo Li\']"}\n'
    (paper,) = parse(data, source="x.jsonl").papers
    assert paper.categories == ("cs.GT", "econ.TH") and paper.authors == ("Ann Lee", "Bo Li")


def test_journal_feeds_keep_dois_and_clean_html() -> None:
    tandf = load("feeds/other/tandfonline-rss1-rdf.xml").papers
    assert tandf[0].doi == "10.1080/09397140.2021.1992835"
    assert tandf[0].id == "doi:10.1080/09397140.2021.1992835"
    assert tandf[0].authors == ("Şafak Bulut", "Gül Olgun Karacan")
    sample = load("feeds/other/feedforall_sample_rss2_html_descriptions.xml").papers
    assert sample[0].title == "RSS Solutions for Restaurants"
    assert sample[0].abstract.startswith("FeedForAll helps Restaurant's communicate")


def test_ill_formed_feeds_keep_what_can_be_recovered() -> None:
    result = load("feeds/illformed/rss_item_link_corrupted_ampersands.xml")
    assert result.papers[0].url == "http://link/get?a=1&b=2"
    assert result.warnings and "malformed" in result.warnings[0]
    koi8 = load("feeds/illformed/chardet_koi8r.xml").papers[0]
    assert koi8.title == "Как пережить новогоднюю ночь"


def test_gzip_is_undone_and_garbage_is_an_error(tmp_path: Path) -> None:
    import gzip

    data = gzip.compress((FIXTURES / "batches/2026-06-29.jsonl").read_bytes())
    assert len(parse(data, source="b.jsonl.gz").papers) == 230
    assert parse(b"", source="empty").error == "not a feed: the document is empty"
    assert parse(b"\x1f\x8bnot gzip", source="x").error is not None
    assert "unknown format" in (parse(b"x", source="x", format="csv").error or "")
