"""Outgoing messages as bytes: ``multipart/alternative``, text first, HTML last.

The email package builds and serialises a message line by line, about 5 ms for one
60 KB digest here, and encodes each header through its full parser (0.15 ms a
header); a day of 100,000 digests needs well under a millisecond for each. So a
:class:`Letterhead` encodes what every message of a run shares once, with the email
package; a reader's own headers take a checked fast path when they are plain ASCII
(line breaks are refused, anything else is RFC 2047-encoded); and each body goes out
as it is when it can: ``7bit`` or ``8bit`` UTF-8 with every line under 998 octets,
else quoted-printable. Every message parses back with the email package: the tests
do exactly that.
"""

from __future__ import annotations

import binascii
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.policy import SMTP
from email.utils import format_datetime

from digest.settings import MailSettings
from digest.signing import MessageSigner, SigningKey

MAX_LINE = 998
_FOLD = 78
_WORD_BYTES = 45  # 45 octets are 60 base64 characters: an encoded word of 72
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+\Z")


class HeaderInjection(ValueError):
    """A header value contained a line break."""


def _checked(value: str, what: str) -> str:
    if "\r" in value or "\n" in value:
        raise HeaderInjection(f"{what} contains a line break: {value!r}")
    return value


def encode_words(value: str) -> str:
    """RFC 2047 ``=?utf-8?b?…?=`` words, each under 75 characters, folded onto lines
    of their own; split between code points, so each word decodes on its own."""
    data = value.encode()
    words = []
    start = 0
    while start < len(data):
        stop = min(start + _WORD_BYTES, len(data))
        while stop < len(data) and data[stop] & 0xC0 == 0x80:
            stop -= 1
        words.append(f"=?utf-8?b?{binascii.b2a_base64(data[start:stop], newline=False).decode()}?=")
        start = stop
    return "\n ".join(words)


def header(name: str, value: str) -> bytes:
    """One header, folded at spaces onto lines of 78, ending in ``\\n``.

    Plain ASCII goes as it is; a value with other characters (or a literal ``=?``,
    or a word too long for any line) goes as RFC 2047 encoded words, which every
    reader decodes back to ``value``."""
    _checked(value, name)
    if value.isascii() and "=?" not in value:
        width = len(name) + 2 + len(value)
        if width <= _FOLD or (width <= MAX_LINE and " " not in value):
            return f"{name}: {value}\n".encode()
        folded = _fold(name, value)
        if folded is not None:
            return folded.encode()
    return f"{name}: {encode_words(value)}\n".encode()


def _fold(name: str, value: str) -> str | None:
    """``name: value`` broken at spaces after the first word (a space stays as the next
    line's indent, so unfolding gives the value back); None when a word cannot fit
    on a line of its own."""
    out = [f"{name}:"]
    width = len(out[0])
    for n, word in enumerate(value.split(" ")):
        if len(word) >= MAX_LINE - 1:
            return None
        if n and width + 1 + len(word) > _FOLD:
            out.append("\n ")
            width = 1 + len(word)
        else:
            out.append(" ")
            width += 1 + len(word)
        out.append(word)
    out.append("\n")
    return "".join(out)


def address(value: str, what: str = "recipient") -> str:
    """An address for a header and the envelope: a plain ``local@domain`` as it is,
    anything else checked by the email package. Addresses outside ASCII would need
    SMTPUTF8, which digest does not send, so they are refused."""
    _checked(value, what)
    if _PLAIN_ADDRESS.match(value):
        return value
    try:
        parsed = Address(addr_spec=value)
    except (ValueError, IndexError, TypeError, HeaderParseError) as exc:
        raise ValueError(f"{what} is not a valid address: {value!r}") from exc
    if not value.isascii():
        raise ValueError(f"{what} is not ASCII (SMTPUTF8 is not supported): {value!r}")
    return str(parsed)


def lines_fit(body: bytes) -> bool:
    """Whether every line of ``body`` is at most ``MAX_LINE`` octets. Each step jumps
    to the last line break within reach, so a 40 KB body takes a few dozen finds."""
    pos = 0
    end = len(body)
    while end - pos > MAX_LINE:
        newline = body.rfind(b"\n", pos, pos + MAX_LINE + 1)
        if newline < 0:
            return False
        pos = newline + 1
    return True


def _normalised(body: bytes) -> bytes:
    if b"\r" in body:
        body = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return body if body.endswith(b"\n") else body + b"\n"


def _part(kind: bytes, body: bytes, eight_bit: bool) -> tuple[bytes, bytes]:
    """A part's header fields and its body, encoded."""
    if lines_fit(body) and (eight_bit or body.isascii()):
        cte = b"7bit" if body.isascii() else b"8bit"
    else:
        cte, body = b"quoted-printable", binascii.b2a_qp(body, istext=True)
    return (
        b"".join(
            [b"Content-Type: text/", kind, b'; charset="utf-8"\nContent-Transfer-Encoding: ', cte]
        )
        + b"\n",
        body,
    )


@dataclass(frozen=True, slots=True)
class Message:
    """A finished message: its envelope and its bytes, assembled (and signed, with a
    ``dkim`` signer) on demand. ``sender`` is the envelope sender, where bounces go."""

    sender: str
    to: str
    message_id: str
    head: bytes
    text: bytes
    html: bytes | None
    boundary: bytes
    dkim: MessageSigner | None = None

    def as_bytes(self, *, eight_bit: bool = True, linesep: bytes = b"\r\n") -> bytes:
        """The message with ``linesep`` line ends; ``eight_bit=False`` for a server
        without 8BITMIME (bodies that are not ASCII go quoted-printable). The DKIM
        signature covers the bytes as they go out, so it is made here."""
        text_head, text = _part(b"plain", self.text, eight_bit)
        if self.html is None:
            head = b"".join([self.head, b"MIME-Version: 1.0\n", text_head])
            body = text
        else:
            sep = b"--" + self.boundary
            html_head, html = _part(b"html", self.html, eight_bit)
            head = b"".join(
                [
                    self.head,
                    b'MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary="',
                    self.boundary,
                    b'"\n',
                ]
            )
            body = b"".join(
                [
                    *(sep, b"\n", text_head, b"\n", text, b"\n"),
                    *(sep, b"\n", html_head, b"\n", html, b"\n"),
                    *(sep, b"--\n"),
                ]
            )
        if self.dkim is not None:
            head = self.dkim.header(head, body) + head
        data = b"".join([head, b"\n", body])
        return data if linesep == b"\n" else data.replace(b"\n", linesep)


class Letterhead:
    """The headers every message of one run shares, encoded once; :meth:`message`
    adds a reader's own. ``from_address`` and ``from_name`` replace the mail
    settings' (link mails may come from another address than digests); with a
    ``signing`` key every message is DKIM-signed for the From domain (or
    ``dkim_domain``)."""

    def __init__(
        self,
        mail: MailSettings,
        *,
        date: datetime,
        signing: SigningKey | None = None,
        dkim_domain: str | None = None,
        from_address: str | None = None,
        from_name: str | None = None,
    ) -> None:
        self.sender = address(from_address or mail.from_address, "sender address")
        self.domain = self.sender.rpartition("@")[2] or "localhost"
        name = _checked(mail.from_name if from_name is None else from_name, "sender name")
        from_line = SMTP.header_factory("From", str(Address(name, addr_spec=self.sender))).fold(
            policy=SMTP
        )
        if date.tzinfo is None:
            date = date.astimezone()
        self.shared = b"".join(
            [
                from_line.replace("\r\n", "\n").encode("ascii"),
                header("Date", format_datetime(date)),
                list_id(mail.from_name, mail.list_id),
                b"Auto-Submitted: auto-generated\n",
            ]
        )
        self.dkim = (
            signing.for_messages(dkim_domain or self.domain, int(date.timestamp()))
            if signing is not None
            else None
        )
        self._nonce = secrets.token_hex(8)

    def message(
        self,
        *,
        to: str,
        subject: str,
        text: bytes | str,
        html: bytes | str | None = None,
        unsubscribe: str | None = None,
        archive: str | None = None,
        message_id: str | None = None,
        sender: str | None = None,
    ) -> Message:
        """One message; ``sender`` is its envelope sender (default: the From address),
        where its bounces go. Raises :class:`HeaderInjection` for a line break in any
        header value and ``ValueError`` for an address that cannot be written."""
        to = address(to)
        envelope = self.sender if sender is None else address(sender, "envelope sender")
        mid = _checked(message_id or self.random_id(), "Message-ID")
        lines = [
            self.shared,
            b"To: ",
            to.encode(),
            b"\n",
            header("Subject", subject),
            header("Message-ID", mid),
        ]
        if unsubscribe:
            lines.append(header("List-Unsubscribe", f"<{unsubscribe}>"))
            lines.append(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\n")
        if archive:
            lines.append(header("Archived-At", f"<{archive}>"))
        text_b = _normalised(text.encode() if isinstance(text, str) else text)
        html_b = None
        if html is not None:
            html_b = _normalised(html.encode() if isinstance(html, str) else html)
        boundary = self._boundary(mid, (text_b, html_b or b""))
        return Message(envelope, to, mid, b"".join(lines), text_b, html_b, boundary, self.dkim)

    def random_id(self) -> str:
        return f"<{secrets.token_hex(12)}@{self.domain}>"

    def _boundary(self, message_id: str, bodies: Iterable[bytes]) -> bytes:
        # "=_" cannot occur in quoted-printable or base64; the nonce keeps it out of
        # 8bit bodies too, and the check makes sure
        tail = binascii.crc32(message_id.encode())
        while True:
            boundary = f"=_digest_{self._nonce}_{tail:x}".encode()
            if not any(boundary in body for body in bodies):
                return boundary
            tail += 1


_ATEXT = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]*\Z")


def list_id(name: str, identifier: str) -> bytes:
    """``List-Id: name <identifier>`` (RFC 2919): the name is what mail readers show,
    quoted when it needs to be, encoded when it is not ASCII."""
    ident = f"<{_checked(identifier, 'List-Id')}>"
    name = _checked(name, "list name").strip()
    if not name:
        return header("List-Id", ident)
    if not name.isascii() or "=?" in name:
        return f"List-Id: {encode_words(name)}\n {ident}\n".encode()
    if not _ATEXT.match(name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return header("List-Id", f"{name} {ident}")


def build_message(
    mail: MailSettings,
    *,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    unsubscribe: str | None = None,
    archive: str | None = None,
    message_id: str | None = None,
    date: datetime | None = None,
    signing: SigningKey | None = None,
    dkim_domain: str | None = None,
    from_address: str | None = None,
    from_name: str | None = None,
    sender: str | None = None,
) -> Message:
    """One message outside a daily run (confirmation mails, tests)."""
    return Letterhead(
        mail,
        date=date or datetime.now().astimezone(),
        signing=signing,
        dkim_domain=dkim_domain,
        from_address=from_address,
        from_name=from_name,
    ).message(
        to=to,
        subject=subject,
        text=text,
        html=html,
        unsubscribe=unsubscribe,
        archive=archive,
        message_id=message_id,
        sender=sender,
    )
