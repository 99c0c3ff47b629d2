"""Rendering: the email's HTML and text, the RSS feed, escaping and size.

Golden files live in tests/golden/. After an intended change to a template, regenerate
them with:

    UPDATE_GOLDEN=1 python -m pytest tests/test_render.py

and review the diff before committing it.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import feedparser
import pytest

from digest.models import Digest, DigestSection, Links, Paper, ScoredPaper
from digest.render import Renderer
from digest.settings import Settings
from digest.sources.formats import parse
from digest.templating import cut_abstract, short_authors
from tests.conftest import FIXTURES

GOLDEN = Path(__file__).parent / "golden"
DAY = date(2026, 11, 20)
LINKS = Links(
    manage="https://digest.example.org/m/MANAGE",
    unsubscribe="https://digest.example.org/u/UNSUB",
    feed="https://digest.example.org/f/FEED.rss",
    archive="https://digest.example.org/a/ARCHIVE",
    feedback="https://digest.example.org/fb/FEEDBACK",
)
NASTY = Paper(
    id="2611.00001",
    title='Attacks & Defences: <script>alert("x")</script> in "LLM" pipelines',
    abstract="We show that <b>markup</b> & ampersands survive. A second sentence. "
    "And a third one that is long enough to matter.",
    authors=("Zoë <Ö> O'Neil", "R. & D. Team"),
    categories=("cs.CR", "cs.CL"),
    published=date(2026, 11, 19),
    url="https://arxiv.org/abs/2611.00001?a=1&b=2",
    source="test",
)


@pytest.fixture(scope="module")
def real_papers() -> list[Paper]:
    papers = parse((FIXTURES / "batches" / "2026-06-30.jsonl").read_bytes(), source="b").papers
    return list({p.id: p for p in papers}.values())


def digest_of(papers: list[Paper], per_section: int = 3) -> Digest:
    first, second = papers[:per_section], papers[per_section : 2 * per_section]
    if per_section > 1:
        # one new version of an older paper, and one paper also on Hugging Face
        first = [first[0], replace(first[1], announce="replace", version=3), *first[2:]]
        second = [replace(second[0], upvotes=12, announce="new"), *second[1:]]
    return Digest(
        email="ada@example.org",
        day=DAY,
        sections=(
            DigestSection(
                "language models",
                tuple(
                    ScoredPaper(
                        p,
                        1.5 - i / 10,
                        f"keywords: language model · like “Seed {i}”",
                        "language models",
                    )
                    for i, p in enumerate(first)
                ),
            ),
            DigestSection(
                "vision",
                tuple(
                    ScoredPaper(p, 0.9 - i / 10, "in cs.CV", "vision") for i, p in enumerate(second)
                ),
            ),
        ),
        links=LINKS,
    )


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; regenerate it (see module docstring)"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


def test_email_matches_golden_files(settings: Settings, real_papers: list[Paper]) -> None:
    email = Renderer(settings).email(digest_of(real_papers))
    check_golden("digest_email.html", email.html)
    check_golden("digest_email.txt", email.text)
    assert email.subject == "6 new papers for language models, vision (Fri 20 Nov)"


def test_feed_matches_golden_file_and_is_valid_rss(
    settings: Settings, real_papers: list[Paper]
) -> None:
    digest = digest_of(real_papers)
    entries = [sp for s in digest.sections for sp in s.papers]
    xml = Renderer(settings).feed(
        email="ada@example.org",
        self_url=LINKS.feed,
        link=LINKS.manage,
        items=[Renderer(settings).feed_items(digest)],
        updated=datetime(2026, 11, 20, 7, 0),
    )
    check_golden("feed.xml", xml.decode())
    parsed = feedparser.parse(xml)
    assert parsed.bozo == 0
    assert parsed.version == "rss20"
    assert parsed.feed.title == "digest for ada@example.org"
    assert any(link.rel == "self" and link.href == LINKS.feed for link in parsed.feed.links)
    assert len(parsed.entries) == 6
    first = parsed.entries[0]
    assert first.id == f"digest:2026-11-20:{entries[0].paper.id}"
    assert first.published == "Fri, 20 Nov 2026 00:00:00 +0000"
    assert first.title == entries[0].paper.title


def test_markup_in_titles_and_abstracts_is_escaped_everywhere(settings: Settings) -> None:
    digest = Digest(
        email="ada@example.org",
        day=DAY,
        sections=(
            DigestSection("security <b>", (ScoredPaper(NASTY, 1.0, "why <i>", "security <b>"),)),
        ),
        links=LINKS,
    )
    renderer = Renderer(settings)
    email = renderer.email(digest)
    assert "<script>" not in email.html and "&lt;script&gt;" in email.html
    assert "Attacks &amp; Defences" in email.html
    assert "<b>markup</b>" not in email.html and "security &lt;b&gt;" in email.html
    assert 'href="https://arxiv.org/abs/2611.00001?a=1&amp;b=2"' in email.html
    assert "Zoë &lt;Ö&gt; O&#39;Neil" in email.html
    # the plain text is not markup: it carries the characters as they are
    assert '<script>alert("x")</script>' in email.text
    xml = renderer.feed(
        email="ada@example.org",
        self_url=LINKS.feed,
        link=LINKS.manage,
        items=[renderer.feed_items(digest)],
        updated=None,
    )
    assert b"<script>" not in xml
    parsed = feedparser.parse(xml)
    assert parsed.bozo == 0
    assert parsed.entries[0].title == NASTY.title
    assert "&lt;script&gt;" in parsed.entries[0].description
    assert parsed.entries[0].link == NASTY.url


def test_fifty_papers_stay_under_gmails_clipping_size(
    settings: Settings, real_papers: list[Paper]
) -> None:
    long_authors = tuple(f"Author Number {i} Longname" for i in range(60))
    papers = [
        Paper(
            **{
                **p.to_json(),
                "authors": long_authors,
                "categories": tuple(p.categories),
                "published": p.published,
                "abstract": p.abstract * 3,
            }
        )
        for p in real_papers[:50]
    ]
    email = Renderer(settings).email(digest_of(papers, per_section=25))
    size = len(email.html.encode())
    assert email.html.count('class="pick"') == 50
    assert size < 102 * 1024, f"{size} bytes"


def test_css_is_inlined_leaving_only_media_rules(
    settings: Settings, real_papers: list[Paper]
) -> None:
    html = Renderer(settings).email(digest_of(real_papers)).html
    styles = re.findall(r"<style>(.*?)</style>", html, re.DOTALL)
    assert len(styles) == 1
    outside_media = re.sub(r"@media[^{]*\{(?:[^{}]*\{[^{}]*\})*[^{}]*\}", "", styles[0]).strip()
    assert outside_media == ""
    assert "prefers-color-scheme: dark" in styles[0]
    assert '<meta name="color-scheme" content="light dark">' in html
    assert 'style="padding:14px 24px 14px; border-bottom:1px solid #e5e7eb"' in html
    assert 'width="600"' in html


def test_operator_templates_override_the_shipped_ones(
    tmp_path: Path, settings: Settings, real_papers: list[Paper]
) -> None:
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "digest_email.txt").write_text("Custom: {{ count }} papers\n")
    custom = settings.model_copy(update={"templates_dir": tmp_path})
    email = Renderer(custom).email(digest_of(real_papers))
    assert email.text == "Custom: 6 papers\n"
    assert "<table" in email.html


def test_abstracts_are_cut_at_a_sentence_and_authors_shortened() -> None:
    text = "First sentence is here. " * 30
    cut = cut_abstract(text, limit=100)
    assert cut.endswith("here.") and len(cut) <= 100
    assert cut_abstract("short") == "short"
    assert cut_abstract("word " * 200, limit=50).endswith("\u2026")
    assert short_authors(["A", "B", "C"]) == "A, B, C"
    assert short_authors([str(i) for i in range(9)]) == "0, 1, 2 et al. (9 authors)"


def test_latex_reads_as_unicode_in_the_email_text_and_feed(settings: Settings) -> None:
    paper = Paper(
        id="2611.00002",
        title=r"$\beta$-Stars: \emph{Fast} Search in $O(\log n)$",
        abstract=r"We reach $99.5\pm0.1$\% recall with \textbf{no} index.",
        url="https://arxiv.org/abs/2611.00002",
    )
    digest = Digest(
        "ada@example.org",
        DAY,
        (DigestSection("search", (ScoredPaper(paper, 1.0, "x", "search"),)),),
        LINKS,
    )
    renderer = Renderer(settings)
    email = renderer.email(digest)
    xml = renderer.feed(
        email="ada@example.org",
        self_url=LINKS.feed,
        link=LINKS.manage,
        items=[renderer.feed_items(digest)],
        updated=None,
    )
    entry = feedparser.parse(xml).entries[0]
    for shown in (email.html, email.text, entry.title, entry.description):
        assert "β-Stars: Fast Search in O(log n)" in shown or "99.5±0.1% recall" in shown
        assert "\\emph" not in shown and "$" not in shown
    assert entry.title == "β-Stars: Fast Search in O(log n)"
    assert "99.5±0.1% recall with no index." in email.text


def test_each_paper_links_its_abstract_pdf_and_hugging_face_page_and_says_how_it_was_announced(
    settings: Settings, real_papers: list[Paper]
) -> None:
    digest = digest_of(real_papers)
    replaced = digest.sections[0].papers[1].paper
    on_hf = digest.sections[1].papers[0].paper
    email = Renderer(settings).email(digest)
    for part in (email.html, email.text):
        assert f"https://arxiv.org/pdf/{replaced.id}" in part
        assert f"https://huggingface.co/papers/{on_hf.id}" in part
        assert "12 upvotes on Hugging Face" in part
        assert "New version (v3)" in part
        assert part.count("huggingface.co/papers/") == 1  # only where it is known
    assert ">PDF</a>" in email.html and ">Hugging Face</a>" in email.html
    assert f"Abstract: https://arxiv.org/abs/{replaced.id}" in email.text


def test_a_summary_line_and_preheader_open_the_email(
    settings: Settings, real_papers: list[Paper]
) -> None:
    digest = digest_of(real_papers)
    email = Renderer(settings).email(digest)
    summary = "6 papers: 3 for language models, 3 for vision"
    assert email.text.splitlines()[1] == summary
    body = email.html[email.html.index("<body") :]
    preheader = re.search(r'<div class="preheader" style="display:none[^"]*">([^<]*)</div>', body)
    assert preheader is not None and body.index(preheader.group(0)) < body.index("<table")
    first = digest.sections[0].papers[0].paper.title
    assert preheader.group(1) == f"{summary}. First: {first}"
    one = Digest(digest.email, DAY, digest.sections[:1], LINKS)
    assert Renderer(settings).email(one).text.splitlines()[1] == "3 papers for language models"


def test_feed_items_name_their_authors_as_dc_creators(
    settings: Settings, real_papers: list[Paper]
) -> None:
    renderer = Renderer(settings)
    digest = digest_of(real_papers)
    xml = renderer.feed(
        email="ada@example.org",
        self_url=LINKS.feed,
        link=LINKS.manage,
        items=[renderer.feed_items(digest)],
        updated=None,
    )
    entry = feedparser.parse(xml).entries[0]
    paper = digest.sections[0].papers[0].paper
    assert [a["name"] for a in entry.authors] == list(paper.authors)
    assert [t.term for t in entry.tags] == list(paper.categories)


def test_relevance_is_said_in_words_against_the_sections_best(
    settings: Settings, real_papers: list[Paper]
) -> None:
    picks = tuple(
        ScoredPaper(p, score, "in cs.CV", "vision")
        for p, score in zip(real_papers[:4], (2.0, 1.6, 1.1, 0.4), strict=True)
    )
    digest = Digest("ada@example.org", DAY, (DigestSection("vision", picks),), LINKS)
    text = Renderer(settings).render(digest).text.decode()
    words = re.findall(r"(Strong|Good|Partial) match — ", text)
    assert words == ["Strong", "Strong", "Good", "Partial"]
    assert not re.search(r"score \d", text), "no bare numbers for readers"
