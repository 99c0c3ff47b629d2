"""Real feeds are dirtier than the fixtures: byte-order marks and zero-width characters
in titles, tracking parameters and raw spaces in links, and the same paper through a
publisher's feed and PubMed. Dirty copies of the real fixtures must give the clean
papers, and a pair must be stored once."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from digest.collect import collect
from digest.identity import canonical_url, title_fingerprint
from digest.sources import FileSource
from digest.sources.formats import parse
from digest.store import Store
from digest.store.base import MIGRATIONS
from digest.tables import papers
from tests.conftest import FIXTURES

ARXIV = (
    FIXTURES
    / "feeds"
    / "arxiv-rss"
    / "rss_arxiv_org_cs.LG+cs.AI+cs.CL+stat.ML_2026-09-24_trimmed4items.xml"
)
PUBLISHER = FIXTURES / "feeds" / "other" / "tandfonline-rss1-rdf.xml"
NOW = datetime(2026, 11, 20, 6)


def test_titles_with_a_byte_order_mark_or_zero_width_characters_come_out_clean() -> None:
    clean = parse(ARXIV.read_bytes(), source="arxiv").papers
    dirty = ARXIV.read_text(encoding="utf-8")
    titles = re.findall(r"<title>(.*?)</title>", dirty)[1:]  # the channel's own comes first
    for n, title in enumerate(titles):
        words = title.split(" ")
        words[1] = "\u200b" + words[1] + "\u200d\u2060"
        dirty = dirty.replace(
            f"<title>{title}</title>",
            f"<title>\ufeff{' '.join(words)}\u00ad</title>"
            if n % 2
            else f"<title>&#xFEFF;{' '.join(words)}&#8203;</title>",
        )
    got = parse(dirty.encode(), source="arxiv").papers
    assert [(p.id, p.title) for p in got] == [(p.id, p.title) for p in clean]


@pytest.mark.parametrize(
    ("link", "canonical"),
    [
        (
            "https://pubmed.ncbi.nlm.nih.gov/39612345/?utm_source=Other&utm_medium=rss&utm_campaign=pubmed-2&utm_content=1Fz9&fc=20241201000000&ff=20241202051512&v=2.18.0.post9+e462414",
            "https://pubmed.ncbi.nlm.nih.gov/39612345/",
        ),
        (
            "https://www.tandfonline.com/doi/full/10.1080/09397140.2021.1992835?af=R",
            "https://www.tandfonline.com/doi/full/10.1080/09397140.2021.1992835",
        ),
        (
            "HTTPS://Journal.Example.ORG/article/a paper?id=7&utm_campaign=feed#section 2",
            "https://journal.example.org/article/a%20paper?id=7#section%202",
        ),
        ("\ufeff https://example.org/p?q=a+b&v=3 \u200b", "https://example.org/p?q=a+b&v=3"),
    ],
)
def test_links_lose_tracking_parameters_and_raw_spaces(link: str, canonical: str) -> None:
    assert canonical_url(link) == canonical
    feed = (
        '<rss version="2.0"><channel><title>t</title><item><title>A paper</title>'
        f"<link>{link.replace('&', '&amp;')}</link></item></channel></rss>"
    )
    (paper,) = parse(feed.encode(), source="feed").papers
    assert paper.url == canonical and paper.id == canonical


def pubmed_copy(publisher: bytes, count: int, *, day: str) -> bytes:
    """The publisher's first ``count`` papers as PubMed's RSS would carry them: a
    PubMed link with the day's tracking parameters, no DOI, and the title as PubMed
    indexes it, here with a space lost and a byte-order mark in front."""
    found = parse(publisher, source="publisher").papers[:count]
    items = []
    for n, paper in enumerate(found):
        title = paper.title.replace(" ", "", 1) if n % 2 == 0 else paper.title.replace(": ", ":", 1)
        link = (
            f"https://pubmed.ncbi.nlm.nih.gov/{39600000 + n}/?utm_source=Other&amp;utm_medium=rss"
            f"&amp;utm_campaign=journals&amp;utm_content=1Fz9&amp;fc={day}000000&amp;ff={day}051512&amp;v=2.18.0"
        )
        items.append(
            f"<item><title>\ufeff{title}</title><link>{link}</link>"
            f"<description>{paper.abstract}</description>"
            f'<guid isPermaLink="false">pubmed:{39600000 + n}</guid></item>'
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>pubmed: journal</title>{''.join(items)}</channel></rss>"
    ).encode()


@pytest.fixture
def feeds(tmp_path: Path) -> dict[str, Path]:
    publisher = PUBLISHER.read_bytes()
    made = {
        "publisher": tmp_path / "publisher.xml",
        "pubmed": tmp_path / "pubmed.xml",
        "pubmed-next-day": tmp_path / "pubmed-2.xml",
    }
    made["publisher"].write_bytes(publisher)
    made["pubmed"].write_bytes(pubmed_copy(publisher, 5, day="20261119"))
    made["pubmed-next-day"].write_bytes(pubmed_copy(publisher, 5, day="20261120"))
    return made


@pytest.mark.parametrize("order", [("publisher", "pubmed"), ("pubmed", "publisher")])
def test_a_paper_through_a_publisher_and_pubmed_is_stored_once(
    store: Store, feeds: dict[str, Path], order: tuple[str, str]
) -> None:
    report = collect(store, [FileSource(name, str(feeds[name])) for name in order], now=NOW)
    by_name = {s.name: s for s in report.sources}
    assert by_name["publisher"].fetched == 13 and by_name["pubmed"].fetched == 5
    assert by_name[order[0]].new == by_name[order[0]].fetched
    assert by_name[order[1]].new == by_name[order[1]].fetched - 5
    stored = store.papers()
    assert len(stored) == 13 and report.batch.size == 13
    # whichever came first, the merged papers keep their DOI
    assert all(p.doi and p.doi.startswith("10.1080/") for p in stored)
    # a day later PubMed's links carry new tracking values: still nothing new
    again = collect(store, [FileSource("pubmed", str(feeds["pubmed-next-day"]))], now=NOW)
    assert again.sources[0].new == 0 and len(store.papers()) == 13


def test_a_title_that_differs_by_a_lost_space_or_a_hyphen_has_one_fingerprint() -> None:
    title = "Self-supervised learning of dense visual features"
    for variant in (
        "Self-supervisedlearning of dense visual features",
        "Self supervised learning of dense visual features",
        "\ufeffSelf-supervised learning of dense\u200b visual features.",
    ):
        assert title_fingerprint(variant) == title_fingerprint(title)
    assert title_fingerprint(
        "Self-supervised learning of sparse visual features"
    ) != title_fingerprint(title)


def test_papers_stored_by_an_older_version_get_the_new_fingerprints_and_links(
    store: Store, feeds: dict[str, Path], tmp_path: Path
) -> None:
    collect(store, [FileSource("publisher", str(feeds["publisher"]))], now=NOW)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0003")
        # as the older version stored them: spaced fingerprints, feed links as given
        for pk, url in conn.execute(sa.select(papers.c.pk, papers.c.url)).all():
            conn.execute(
                sa.update(papers)
                .where(papers.c.pk == pk)
                .values(fingerprint="old" + str(pk), url=url + "?af=R")
            )
    store.migrate()
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(papers.c.title, papers.c.url, papers.c.fingerprint)).all()
    assert all(fp == title_fingerprint(t) and not url.endswith("?af=R") for t, url, fp in rows)
    report = collect(store, [FileSource("pubmed", str(feeds["pubmed"]))], now=NOW)
    assert report.sources[0].new == 0 and len(store.papers()) == 13
