"""Bad input, generated: mutations of the real fixtures for every parser and for
profile files. Whatever the bytes, a parser answers (papers, or an error) within
seconds, never raises, and what it answers can be stored; a profile file is read or
refused with an error naming it; a failed source changes nothing stored.
"""

from __future__ import annotations

import gzip
import json
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.collect import collect
from digest.models import ParseResult
from digest.profiles import ProfileFileError, load_profile_file, load_subscribers
from digest.sources import FileSource, formats
from digest.sources.formats import parse
from digest.store import Store
from tests.conftest import FIXTURES

ROOT = Path(__file__).parent.parent
FEEDS = FIXTURES / "feeds"
SAMPLES = {
    "feed": [
        FEEDS
        / "arxiv-rss"
        / "rss_arxiv_org_cs.LG+cs.AI+cs.CL+stat.ML_2026-09-24_trimmed4items.xml",
        FEEDS / "arxiv-api" / "id_0808.05394_1707.08567_s0_m100_42e5aa0ec3af.body.xml",
        FEEDS / "other" / "feedforall_sample_rss2_html_descriptions.xml",
        FEEDS / "other" / "tandfonline-rss1-rdf.xml",
    ],
    "hf-api": [FEEDS / "hf-daily" / "hf_daily_papers_api_2026-05-29_30items.json"],
    "jsonl": [FIXTURES / "batches" / "2026-06-29.jsonl"],
    "hf-page": [FIXTURES / "hf-pages" / "page-a.txt"],
}


def _head(path: Path, limit: int = 40_000) -> bytes:
    """The start of a fixture, cut at a line end: enough structure, quick to parse."""
    data = path.read_bytes()
    if len(data) <= limit or path.suffix in (".xml", ".json"):
        return data
    return data[: data.rindex(b"\n", 0, limit) + 1]


ORIGINALS = {fmt: [_head(p) for p in paths] for fmt, paths in SAMPLES.items()}

STRAY = [
    b"<",
    b"&",
    b"\x00",
    b"\xff",
    b"\xc3\x28",  # a broken two-byte sequence
    b"\xed\xa0\x80",  # an encoded surrogate
    b"\xef\xbb\xbf",  # a byte-order mark
    "\u200b".encode(),
    b"&#0;",
    b"&#xD800;",
    b"\\ud800",
    b"]]>",
    b"<!--",
    b"<![CDATA[",
    b'"',
    b"\n",
    b"[" * 3000,
    b"{" * 3000,
    b"<a>" * 3000,
    b"(arXiv:" * 500,
    b"</width>",
    b"<image><width></width></image>",
]


@st.composite
def mutated(draw: st.DrawFn, fmt: str) -> bytes:
    data = bytearray(draw(st.sampled_from(ORIGINALS[fmt])))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "repeat"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.sampled_from(STRAY))
        else:
            size = draw(st.integers(1, 200))
            data[at:at] = bytes(data[at : at + size]) * draw(st.integers(2, 50))
    return bytes(data)


def well_formed(result: ParseResult) -> None:
    assert isinstance(result, ParseResult)
    assert result.error is None or (isinstance(result.error, str) and result.error)
    for paper in result.papers:
        assert paper.id and paper.title and paper.title == paper.title.strip()
        for text in (paper.id, paper.title, paper.abstract, paper.url, *paper.authors):
            text.encode("utf-8")  # no lone surrogates: the database must take it
            assert "\x00" not in text and "\ufeff" not in text and "\u200b" not in text
            assert "\n" not in text


def parse_in_time(data: bytes, fmt: str | None) -> ParseResult:
    started = time.monotonic()
    result = parse(data, source="mutant", format=fmt)
    assert time.monotonic() - started < 10
    return result


PROPERTY = settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_a_mutated_input_gives_papers_or_an_error_never_an_exception(fmt: str) -> None:
    @PROPERTY
    @given(data=mutated(fmt), detect=st.booleans())
    def check(data: bytes, detect: bool) -> None:
        well_formed(parse_in_time(data, None if detect else fmt))

    check()


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_a_gzipped_and_cut_input_is_an_error_not_an_exception(fmt: str) -> None:
    packed = gzip.compress(ORIGINALS[fmt][0])
    for cut in (10, len(packed) // 2, len(packed) - 4):
        result = parse_in_time(packed[:cut], fmt)
        well_formed(result)
        assert result.error is not None and "gzip" in result.error


BOMB = (
    '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY lol "lol">\n'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'
        for i in range(1, 10)
    )
    + ']>\n<rss version="2.0"><channel><title>t</title>'
    "<item><title>&lol9;</title><link>https://example.org/1</link></item></channel></rss>"
)
XXE = (
    '<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    '<rss version="2.0"><channel><title>t</title><item><title>A &xxe; B</title>'
    "<link>https://example.org/1</link><description>&xxe;</description></item></channel></rss>"
)
PARAMETER = (
    '<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/x.dtd">'
    ' %remote;]>\n<rss version="2.0"><channel><item><title>x</title></item></channel></rss>'
)


@pytest.mark.parametrize("document", [BOMB, XXE, PARAMETER], ids=["bomb", "xxe", "parameter"])
def test_a_feed_that_declares_entities_is_refused_whole(document: str) -> None:
    for encoded in (
        document.encode(),
        document.replace('"1.0"?', '"1.0" encoding="utf-16"?', 1).encode("utf-16"),
    ):
        result = parse_in_time(encoded, None)
        assert result.papers == []
        assert result.error is not None and "declares XML entities" in result.error


@pytest.mark.parametrize(
    "document",
    [
        b'<rss version="2.0"><channel><title>x &#xD800; </title><item><title>a</title></item></channel></rss>',
        b'<rss version="2.0"><channel><image></width></image><item><title>a & b</title></item></channel></rss>',
    ],
    ids=["surrogate-reference", "stray-end-tag"],
)
def test_a_document_feedparser_chokes_on_is_an_error(document: bytes) -> None:
    result = parse_in_time(document, None)
    assert result.papers == [] and (result.error or "").startswith("not a feed: unreadable")


def test_a_doctype_naming_a_dtd_is_still_a_feed() -> None:
    rss091 = (
        b'<?xml version="1.0"?>\n<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"'
        b' "http://my.netscape.com/publish/formats/rss-0.91.dtd">\n<rss version="0.91"><channel>'
        b"<title>t</title><item><title>A paper</title><link>https://example.org/1</link></item>"
        b"</channel></rss>"
    )
    result = parse(rss091, source="old")
    assert result.error is None and [p.title for p in result.papers] == ["A paper"]


def test_a_title_full_of_stray_markup_is_read_in_linear_time() -> None:
    for junk in ("<!--", "<br ", "<a href=x>", "(arXiv:a", "</a><a x>"):
        feed = (
            '<rss version="2.0"><channel><item><title>T</title><description>'
            f"{(junk * 20_000).replace('<', '&lt;')}</description>"
            f"<dc:creator>{(junk * 20_000).replace('<', '&lt;')}</dc:creator>"
            "<link>https://example.org/1</link></item></channel></rss>"
        )
        started = time.monotonic()
        result = parse(feed.encode(), source="junk")
        assert time.monotonic() - started < 3, junk
        well_formed(result)


def test_deep_nesting_is_an_error_naming_the_line() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    lines = f'{{"title": "ok", "id": "2401.00001"}}\n{{"title": "t", "authors": {deep}}}\n'
    result = parse(lines.encode(), source="deep", format="jsonl")
    assert [p.id for p in result.papers] == ["2401.00001"]
    assert result.warnings == ["line 2: JSON nested too deeply; skipped"]
    result = parse(deep.encode(), source="deep", format="hf-api")
    assert result.error is not None and "nested too deeply" in result.error


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_a_2_mb_line_is_read_in_time_and_bounded_memory(fmt: str) -> None:
    big = "word " * 400_000
    data = {
        "jsonl": json.dumps({"id": "2401.00001", "title": "T", "summary": big}).encode(),
        "hf-page": f"Daily Papers\nT\n{big}\n".encode(),
        "hf-api": json.dumps(
            [{"paper": {"id": "2401.00001", "title": "T", "summary": big}}]
        ).encode(),
        "feed": f'<rss version="2.0"><channel><item><title>T</title><description>{big}</description><link>https://example.org/1</link></item></channel></rss>'.encode(),
    }[fmt]
    tracemalloc.start()
    try:
        result = parse_in_time(data, None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.error is None and len(result.papers) == 1
    assert len(result.papers[0].abstract) == len(big.strip())
    assert peak < 40 * len(data), f"{peak / 2**20:.0f} MiB for a {len(data) / 2**20:.0f} MiB input"


def test_a_gzip_bomb_is_refused_before_it_fills_the_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(formats, "MAX_UNZIPPED", 4 * 2**20)
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\n" * 2**20
    bomb = b"".join(packer.compress(chunk) for _ in range(16)) + packer.flush()
    assert len(bomb) < 100_000
    tracemalloc.start()
    try:
        result = parse(bomb, source="bomb.jsonl.gz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.error == "refused: larger than 4 MiB once unzipped"
    assert peak < 16 * 2**20


# profile files ---------------------------------------------------------------

EXAMPLE = (ROOT / "config" / "profiles" / "example.toml").read_bytes()
SUBSCRIBER_LINE = json.dumps(
    {
        "email": "ada@example.org",
        "timezone": "Europe/Paris",
        "profiles": [
            {
                "name": "language models",
                "keywords": [{"phrase": "language model", "weight": 2}],
                "authors": ["Ada Lovelace"],
                "categories": ["cs.CL"],
                "seed_papers": [{"id": "2401.00001"}, {"title": "A title", "abstract": "Text."}],
            }
        ],
    }
).encode()


@st.composite
def mutated_bytes(draw: st.DrawFn, original: bytes) -> bytes:
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del data[at:]
        else:
            data[at:at] = draw(st.sampled_from([*STRAY, b"[[[[" * 30_000, b"\\u0000", b"'"]))
    return bytes(data)


@pytest.fixture(scope="module")
def profile_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("profiles")


@pytest.mark.parametrize(("original", "suffix"), [(EXAMPLE, ".toml"), (SUBSCRIBER_LINE, ".jsonl")])
def test_a_mutated_profile_file_is_read_or_refused_by_name(
    profile_dir: Path, original: bytes, suffix: str
) -> None:
    path = profile_dir / f"mutant{suffix}"

    @PROPERTY
    @given(data=mutated_bytes(original))
    def check(data: bytes) -> None:
        path.write_bytes(data)
        for load in (load_subscribers, load_profile_file):
            started = time.monotonic()
            try:
                loaded = load(path)
            except ProfileFileError as exc:
                assert str(exc).startswith(str(path))
            else:
                dumped = json.dumps(
                    [
                        p.model_dump(mode="json")
                        for p in (loaded if isinstance(loaded, list) else [loaded])
                    ]
                )
                dumped.encode("utf-8")
                assert "\\u0000" not in dumped
            assert time.monotonic() - started < 10

    check()


# a failed source ---------------------------------------------------------------


@pytest.fixture(scope="module")
def stocked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Path]]:
    """A store holding the real arXiv RSS fixture, collected once, as source "arxiv"."""
    folder = tmp_path_factory.mktemp("stocked")
    store = Store.open(f"sqlite:///{folder / 'digest.db'}")
    feed = folder / "arxiv.xml"
    feed.write_bytes(ORIGINALS["feed"][0])
    collect(store, [FileSource("arxiv", str(feed))], now=datetime(2026, 9, 24, 6))
    yield store, feed
    store.close()


def snapshot(store: Store) -> list[tuple[object, ...]]:
    return [(p.id, p.title, p.abstract, p.authors, p.url, p.doi, p.version) for p in store.papers()]


def test_a_failed_source_changes_nothing_stored(stocked: tuple[Store, Path]) -> None:
    store, feed = stocked
    assert len(snapshot(store)) == 4
    failures = []

    @settings(PROPERTY, max_examples=25)
    @given(data=mutated("feed"))
    def check(data: bytes) -> None:
        before, state = snapshot(store), store.source_state("arxiv")
        feed.write_bytes(data)
        report = collect(store, [FileSource("arxiv", str(feed))], now=datetime(2026, 9, 25, 6))
        (source,) = report.sources
        if source.error is not None:
            failures.append(source.error)
            assert snapshot(store)[: len(before)] == before
            after = store.source_state("arxiv")
            assert after is not None and state is not None
            assert after.last_status == "error" and after.last_error == source.error
            assert after.validators == state.validators

    check()
    assert failures  # the mutations did make the source fail, more than once


def test_a_profile_file_nested_too_deeply_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    path.write_text("name = 'x'\nkeywords = " + "[" * 100_000 + "]" * 100_000 + "\n")
    for load in (load_subscribers, load_profile_file):
        with pytest.raises(ProfileFileError, match=f"^{path}: not valid TOML: nested too deeply"):
            load(path)
