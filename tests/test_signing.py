"""DKIM: messages digest signs verify with dkimpy against the published key."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dkim
import pytest

from digest.mime import Letterhead, build_message
from digest.settings import DkimSettings, Settings
from digest.signing import (
    SigningKey,
    SigningKeyError,
    load_key,
    record_name,
    relaxed_body,
    write_key,
)

DATE = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)


def verifies(raw: bytes, key: SigningKey, domain: str = "example.org") -> bool:
    """dkimpy's verdict, with the key's TXT record served for its one DNS name."""
    wanted = record_name(key.selector, domain)

    def txt(name: bytes | str, timeout: int = 5) -> bytes | None:
        name = name.decode() if isinstance(name, bytes) else name
        return key.dns_record().encode() if name.rstrip(".") == wanted else None

    return bool(dkim.verify(raw, dnsfunc=txt))


@pytest.fixture(params=["rsa", "ed25519"])
def key(request: pytest.FixtureRequest, tmp_path: Path) -> SigningKey:
    path = tmp_path / f"{request.param}.pem"
    write_key(path, "sel1", request.param)
    loaded = load_key(DkimSettings(key_file=path, selector="sel1"))
    assert loaded is not None and loaded.kind == request.param
    return loaded


def _digest(settings: Settings, key: SigningKey, **extra: str) -> Letterhead:
    mail = settings.mail.model_copy(update={"from_address": "digest@example.org", **extra})
    return Letterhead(mail, date=DATE, signing=key)


def test_a_signed_digest_verifies_as_sent_and_as_stored(
    settings: Settings, key: SigningKey
) -> None:
    message = _digest(settings, key).message(
        to="zoe@example.com",
        subject="5 papers · Zoë",
        text="Hello Zoë\n  indented  line\n\n\n",
        html="<p>Hello   Zoë</p>\n<pre>\ta\ttab </pre>\n",
        unsubscribe="https://digest.example.org/u/T.abc",
        archive="https://digest.example.org/a/A.def",
        message_id="<digest.2026-11-20.7@example.org>",
    )
    assert verifies(message.as_bytes(), key)  # over SMTP, CRLF
    assert verifies(message.as_bytes(eight_bit=False), key)  # quoted-printable bodies
    assert verifies(message.as_bytes(linesep=b"\n"), key)  # in a Maildir


def test_the_signature_covers_the_headers_a_reader_trusts(
    settings: Settings, key: SigningKey
) -> None:
    raw = (
        _digest(settings, key)
        .message(
            to="zoe@example.com",
            subject="Your papers",
            text="hello\n",
            unsubscribe="https://digest.example.org/u/T.abc",
            message_id="<m1@example.org>",
        )
        .as_bytes()
    )
    signature = raw.split(b"\r\n\r\n")[0].replace(b"\r\n ", b" ").split(b"\r\n")[0]
    assert signature.startswith(b"DKIM-Signature: v=1; a=")
    tags = dict(t.strip().split(b"=", 1) for t in signature.split(b":", 1)[1].split(b";"))
    assert tags[b"d"] == b"example.org" and tags[b"s"] == b"sel1"
    assert tags[b"c"] == b"relaxed/relaxed"
    signed = set(tags[b"h"].decode().split(":"))
    assert {
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "list-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
    } <= signed
    for tampered in (
        raw.replace(b"Subject: Your papers", b"Subject: Your prize"),
        raw.replace(b"hello\r\n", b"hellO\r\n"),
        raw.replace(b"To: zoe@", b"To: eve@"),
        raw.replace(b"T.abc", b"T.abd"),
        # an added second From is caught: every signed field is signed once more
        raw.replace(b"Subject:", b"From: eve@example.net\r\nSubject:", 1),
    ):
        assert tampered != raw
        assert not verifies(tampered, key)
    assert verifies(raw, key)


def test_a_wrong_published_key_fails(settings: Settings, key: SigningKey, tmp_path: Path) -> None:
    other = write_key(tmp_path / "other.pem", "sel1", key.kind)
    raw = _digest(settings, key).message(to="a@example.com", subject="s", text="t\n").as_bytes()
    assert verifies(raw, key) and not verifies(raw, other)


def test_link_mail_from_another_address_signs_for_its_domain(
    settings: Settings, key: SigningKey
) -> None:
    message = build_message(
        settings.mail,
        to="new@example.com",
        subject="Confirm",
        text="click\n",
        date=DATE,
        signing=key,
        from_address="hello@mail.example.net",
        from_name="Papers",
    )
    raw = message.as_bytes()
    assert b"From: Papers <hello@mail.example.net>" in raw
    assert verifies(raw, key, domain="mail.example.net")


def test_relaxed_body_matches_the_rfc() -> None:
    # RFC 6376 3.4.5's example body, with LF line ends as digest builds them
    assert relaxed_body(b" C \n D \t E\n\n\n") == b" C\r\n D E\r\n"
    assert relaxed_body(b"a  b\nc\n") == b"a b\r\nc\r\n"
    assert relaxed_body(b"\n\n") == b""


def test_a_key_that_cannot_be_used_says_why(tmp_path: Path) -> None:
    assert load_key(DkimSettings()) is None
    with pytest.raises(SigningKeyError, match=r"dkim.key_file: cannot read .*missing.pem"):
        load_key(DkimSettings(key_file=tmp_path / "missing.pem"))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key\n")
    with pytest.raises(SigningKeyError, match="not an unencrypted PEM private key"):
        load_key(DkimSettings(key_file=junk))


def test_a_new_key_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "dkim" / "k.pem"
    key = write_key(path, "s", "ed25519")
    assert path.stat().st_mode & 0o777 == 0o600
    assert key.dns_record().startswith("v=DKIM1; k=ed25519; p=")
