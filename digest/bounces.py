"""What a message in the bounce mailbox says: a bounce (hard or soft), a complaint, or
nothing digest acts on, and which reader it is about.

The reader comes from the envelope the report came back to: each reader's mail goes
out with their own signed return path (``bounces+TOKEN@domain``), which the bounce
mailbox's server records in ``Delivered-To`` or ``X-Original-To`` and a report sends
back as its ``To`` or, for a complaint, its ``Original-Mail-From``. Failing that, the
signed unsubscribe link in the returned message's ``List-Unsubscribe`` names them. A
forged token names nobody.

Whether a message is a bounce at all, and whether its failure is permanent, is
flufl.bounce's call (Mailman's detectors: RFC 3464 delivery status notifications and
the pre-standard shapes some servers still send). The RFC 3464 ``Status`` then
refines it: a ``4.x.x`` status, or ``5.2.2`` (mailbox full), is a soft bounce even
when the sending server has given up. Complaints are feedback-loop reports (ARF,
RFC 5965).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message
from email.parser import HeaderParser
from typing import Literal

from flufl.bounce import all_failures

from digest.tokens import BadToken, Purpose, Tokens

Kind = Literal["hard", "soft", "complaint"]

_ENVELOPE = ("delivered-to", "x-original-to", "envelope-to", "x-envelope-to", "to")
_VERP = re.compile(r"\+([0-9a-f]{1,16}\.[A-Za-z0-9_-]{20,})@")
_UNSUBSCRIBE = re.compile(r"/u/([0-9a-f]{1,16}\.[A-Za-z0-9_-]{20,})")
_SMTP_REPLY = re.compile(r"\b[45]\d\d[ -](?:[245]\.\d{1,3}\.\d{1,3}\b)?.*")
SOFT_STATUS = ("5.2.2",)  # mailbox full: it may well have room tomorrow


@dataclass(frozen=True, slots=True)
class Reading:
    """One message of the bounce mailbox, read. ``kind`` None: not a bounce nor a
    complaint (an auto-reply, a delay warning without a failure, spam);
    ``subscriber_id`` None: it names no reader of ours."""

    report_id: str
    kind: Kind | None
    reason: str
    subscriber_id: int | None


def read_report(raw: bytes, tokens: Tokens) -> Reading:
    msg = message_from_bytes(raw, policy=policy.compat32)
    report_id = (msg.get("Message-ID") or "").strip() or (
        "sha256:" + hashlib.sha256(raw).hexdigest()
    )
    kind, reason = _classify(msg)
    reader = _reader(msg, tokens) if kind is not None else None
    return Reading(report_id, kind, reason, reader)


def _classify(msg: Message) -> tuple[Kind | None, str]:
    feedback = _feedback_report(msg)
    if feedback is not None:
        kind = (feedback.get("Feedback-Type") or "abuse").strip().lower()
        if kind == "not-spam":
            return None, "a report that a digest is not spam"
        agent = (feedback.get("User-Agent") or feedback.get("Reporting-MTA") or "").strip()
        return "complaint", f"marked as {kind} at the mail provider" + (
            f" ({agent})" if agent else ""
        )
    temporary, permanent = all_failures(msg)
    if not temporary and not permanent:
        return None, "not a bounce"
    status, diagnostic = _delivery_status(msg)
    reason = " ".join(p for p in (status, diagnostic or _reply_in_text(msg)) if p)
    soft = not permanent or status.startswith("4.") or status in SOFT_STATUS
    return ("soft" if soft else "hard"), reason or "refused by the receiving server"


def _feedback_report(msg: Message) -> Message | None:
    if msg.get_content_type() != "multipart/report":
        return None
    if (msg.get_param("report-type") or "").lower() != "feedback-report":  # type: ignore[union-attr]
        return None
    for part in msg.walk():
        if part.get_content_type() == "message/feedback-report":
            blocks = _blocks(part)
            return blocks[0] if blocks else HeaderParser().parsestr(_text(part))
    return Message()


def _delivery_status(msg: Message) -> tuple[str, str]:
    """The first failed (else delayed) recipient's ``Status`` and ``Diagnostic-Code``."""
    found: list[tuple[int, str, str]] = []
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        for block in _blocks(part):
            action = (block.get("Action") or "").strip().lower()
            if not action.startswith(("failed", "delayed", "error")):
                continue
            status = (block.get("Status") or "").strip().split(" ")[0]
            diagnostic = " ".join((block.get("Diagnostic-Code") or "").split())
            found.append((0 if action.startswith(("failed", "error")) else 1, status, diagnostic))
    if not found:
        return "", ""
    _, status, diagnostic = min(found, key=lambda f: f[0])
    return status, diagnostic


def _blocks(part: Message) -> list[Message]:
    """The header blocks (or the message) the email package parsed a message/* part into."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        return []
    return [p for p in payload if isinstance(p, Message)]


def _reply_in_text(msg: Message) -> str:
    """An SMTP reply quoted in a bounce without a delivery-status part."""
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            match = _SMTP_REPLY.search(_text(part))
            if match:
                return " ".join(match.group(0).split())[:300]
    return ""


def _text(part: Message) -> str:
    data = part.get_payload(decode=True)
    if isinstance(data, bytes):
        return data.decode(part.get_content_charset() or "utf-8", errors="replace")
    payload = part.get_payload()
    return payload if isinstance(payload, str) else ""


def _returned_headers(msg: Message) -> Iterator[Message]:
    """The header blocks of the returned message (whole, or headers only)."""
    for part in msg.walk():
        kind = part.get_content_type()
        if kind in ("message/rfc822", "message/global") and part.is_multipart():
            yield from _blocks(part)[:1]
        elif kind in ("text/rfc822-headers", "text/global-headers"):
            yield HeaderParser().parsestr(_text(part))


def _reader(msg: Message, tokens: Tokens) -> int | None:
    addresses = [v for name in _ENVELOPE for v in msg.get_all(name, [])]
    feedback = _feedback_report(msg)
    if feedback is not None:
        addresses += feedback.get_all("Original-Mail-From", [])
    returned = list(_returned_headers(msg))
    addresses += [v for h in returned for v in h.get_all("Return-Path", [])]
    found = _first_token(_VERP, addresses, "bounce", tokens)
    if found is None:
        links = [v for h in returned for v in h.get_all("List-Unsubscribe", [])]
        found = _first_token(_UNSUBSCRIBE, links, "unsubscribe", tokens)
    return found


def _first_token(
    pattern: re.Pattern[str], values: list[str], purpose: Purpose, tokens: Tokens
) -> int | None:
    for value in values:
        for token in pattern.findall(str(value)):
            try:
                subject = tokens.read(purpose, token)
            except BadToken:
                continue
            if len(subject) == 1:
                return subject[0]
    return None
