"""Messages assembled as bytes, parsed back with the email package."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from digest.mime import MAX_LINE, HeaderInjection, Letterhead, build_message, header, lines_fit
from digest.settings import MailSettings, Settings

DATE = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)

TRICKY = [
    "5 papers · Zoë",
    "plain ascii subject",
    "a" * 70,
    "20 new papers for language models, vision, robotics, graphs, retrieval (Fri 20 Nov)",
    "Ω" * 80,
    "emoji 👍 and combining e\u0301 and CJK 漢字漢字漢字漢字漢字漢字漢字漢字漢字漢字漢字漢字漢字漢字",
    "looks encoded =?utf-8?q?x?= but is not",
    "x" * 1200,
    "two  spaces   and\ttab",
    "",
]


def parse(raw: bytes) -> EmailMessage:
    """Parsed as a mail reader stores it (line ends as LF)."""
    message = message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_headers_and_parts_read_back_as_built(settings: Settings) -> None:
    mail = settings.mail.model_copy(update={"from_name": "Dïgest — papers"})
    message = Letterhead(mail, date=DATE).message(
        to="zoe@example.org",
        subject="5 papers · Zoë",
        text="Hello Zoë\nsecond line\n",
        html="<p>Hello Zoë</p>\n",
        unsubscribe="https://x.example/u/T.abc",
        archive="https://x.example/a/A.def",
        message_id="<digest.2026-11-20.7@example.org>",
    )
    raw = message.as_bytes()
    back = parse(raw)
    assert back["Subject"] == "5 papers · Zoë"
    assert back["From"].addresses[0].display_name == "Dïgest — papers"
    assert back["From"].addresses[0].addr_spec == settings.mail.from_address
    assert back["To"] == "zoe@example.org"
    assert back["Date"].datetime == DATE
    assert back["Message-ID"] == "<digest.2026-11-20.7@example.org>"
    assert back["List-Id"] == f"Dïgest — papers <{settings.mail.list_id}>"
    assert back["List-Unsubscribe"] == "<https://x.example/u/T.abc>"
    assert back["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert back["Archived-At"] == "<https://x.example/a/A.def>"
    assert back["Auto-Submitted"] == "auto-generated"
    assert back.get_content_type() == "multipart/alternative"
    text, html = back.iter_parts()
    assert text.get_content_type() == "text/plain" and html.get_content_type() == "text/html"
    assert text.get_content() == "Hello Zoë\nsecond line\n"
    assert html.get_content() == "<p>Hello Zoë</p>\n"
    assert text["Content-Transfer-Encoding"] == "8bit"
    assert not back.defects and not text.defects and not html.defects
    # the wire form: CRLF everywhere, headers ASCII
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert max(map(len, raw.split(b"\r\n"))) <= 78 + 60  # URLs are never folded


@pytest.mark.parametrize("value", TRICKY)
def test_any_subject_reads_back_exactly_and_lines_stay_short(value: str) -> None:
    line = header("Subject", value)
    assert line.isascii() and line.endswith(b"\n")
    assert all(len(part) <= MAX_LINE for part in line.split(b"\n"))
    back = parse(line + b"\nbody\n")
    assert str(back["Subject"]) == value
    if value.isascii() and "=?" not in value and len(value) < 900:
        assert b"=?" not in line  # plain ASCII is written as it is, only folded


def test_line_breaks_in_any_header_value_are_refused(settings: Settings) -> None:
    with pytest.raises(HeaderInjection):
        build_message(settings.mail, to="a@example.org", subject="hi\r\nBcc: e@x.org", text="x")
    with pytest.raises(HeaderInjection):
        build_message(settings.mail, to="a@example.org\nBcc: e@x.org", subject="s", text="x")
    with pytest.raises(HeaderInjection):
        build_message(
            settings.mail, to="a@example.org", subject="s", text="x", unsubscribe="u\r\nX: y"
        )
    evil = settings.mail.model_copy(update={"from_name": "digest\r\nBcc: evil@example.org"})
    with pytest.raises(HeaderInjection):
        build_message(evil, to="a@example.org", subject="s", text="x")


def test_addresses_that_cannot_be_written_are_refused(settings: Settings) -> None:
    for bad in ["not an address", "a@b@c", "zoë@example.org", "a@example.org, b@example.org"]:
        with pytest.raises(ValueError):
            build_message(settings.mail, to=bad, subject="s", text="x")
    quoted = build_message(settings.mail, to='"odd name"@example.org', subject="s", text="x")
    assert parse(quoted.as_bytes())["To"].addresses[0].addr_spec == '"odd name"@example.org'


def test_long_lines_and_servers_without_8bitmime_get_quoted_printable(settings: Settings) -> None:
    long_html = "<p>" + "Zoë & co " * 300 + "</p>\n"
    message = build_message(
        settings.mail, to="a@example.org", subject="s", text="plain ascii\n", html=long_html
    )
    back = parse(message.as_bytes())
    text, html = back.iter_parts()
    assert text["Content-Transfer-Encoding"] == "7bit"
    assert html["Content-Transfer-Encoding"] == "quoted-printable"
    assert html.get_content() == long_html
    seven = message.as_bytes(eight_bit=False)
    assert seven.isascii()
    assert all(len(line) <= MAX_LINE for line in seven.split(b"\r\n"))
    short = build_message(settings.mail, to="a@example.org", subject="s", text="Zoë\n")
    back = parse(short.as_bytes(eight_bit=False))
    assert back["Content-Transfer-Encoding"] == "quoted-printable"
    assert back.get_content() == "Zoë\n"


def test_the_boundary_never_occurs_in_a_body(settings: Settings) -> None:
    head = Letterhead(settings.mail, date=DATE)
    first = head.message(to="a@example.org", subject="s", text="x", html="<p>y</p>")
    boundary = first.boundary.decode()
    trap = f"--{boundary}\n"
    second = head.message(
        to="a@example.org",
        subject="s",
        text=trap,
        html=f"<p>{trap}</p>",
        message_id=first.message_id,
    )
    assert second.boundary != first.boundary
    back = parse(second.as_bytes())
    assert [p.get_content() for p in back.iter_parts()] == [trap, f"<p>{trap}</p>\n"]


def test_bodies_with_crlf_or_no_final_newline_are_normalised(settings: Settings) -> None:
    message = build_message(
        settings.mail, to="a@example.org", subject="s", text="one\r\ntwo\rthree", html="<p>x</p>"
    )
    raw = message.as_bytes()
    assert b"\r\r" not in raw
    assert parse(raw).get_body(("plain",)).get_content() == "one\ntwo\nthree\n"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "lines",
    [
        [],
        [0],
        [998],
        [999],
        [998, 998, 998],
        [10, 999, 10],
        [2000],
        [500] * 7 + [999],
        [997, 0, 998],
    ],
)
def test_line_lengths_are_checked_exactly(lines: list[int]) -> None:
    body = b"\n".join(b"a" * n for n in lines)
    assert lines_fit(body) == all(n <= MAX_LINE for n in lines)
    assert lines_fit(body + b"\n") == all(n <= MAX_LINE for n in lines)


# any text a subject or a display name may hold: every plane, spaces, what looks like
# an encoded word; no line breaks (refused, see below) and no other control characters
_HEADER_TEXT = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\u2028\u2029"),
    max_size=300,
)


@given(value=_HEADER_TEXT)
@hypothesis_settings(max_examples=300, derandomize=True, deadline=None)
def test_every_subject_reads_back_exactly_from_the_email_parser(value: str) -> None:
    line = header("Subject", value)
    assert line.isascii()
    assert all(len(part) <= MAX_LINE for part in line.split(b"\n"))
    back = parse(line + b"\nbody\n")
    assert str(back["Subject"]) == value


# a name as an operator writes one. Longer than one encoded word (about 11 characters
# of 4 bytes), a name is split into several, and Python's address parser, unlike
# RFC 2047 and mail readers, keeps the fold between them as a space
_NAME = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\u2028\u2029"),
    max_size=11,
)


@given(name=_NAME.map(lambda text: " ".join(text.split())))
@hypothesis_settings(max_examples=200, derandomize=True, deadline=None)
def test_every_sender_name_reads_back_exactly_from_the_email_parser(name: str) -> None:
    mail = MailSettings(from_address="digest@example.org", from_name=name)
    raw = build_message(mail, to="zoe@example.org", subject="s", text="x").as_bytes()
    back = parse(raw)
    (sender,) = back["From"].addresses
    assert sender.addr_spec == "digest@example.org"
    assert sender.display_name == name
