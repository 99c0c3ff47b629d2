"""Signed, purpose-bound tokens for every link in emails, feeds and pages.

A token names one subscriber (for archive links, a subscriber and a delivery) for one
purpose (``bounce``: the reader's return path, ``bounces+TOKEN@domain``, which names
the reader a bounce or a complaint is about); the purpose is the signing salt, so a
token made for one purpose never reads as another. Confirm, manage and feedback tokens
carry a timestamp and expire (feedback links sit in every email and feed, and each one
changes a profile); the others last until the secret changes. Payloads are short
strings signed with HMAC-SHA256, cheap enough to mint for every subscriber of a large
audience each day.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, Literal

from itsdangerous import BadSignature, SignatureExpired, Signer, TimestampSigner

Purpose = Literal["confirm", "manage", "unsubscribe", "feedback", "feed", "archive", "bounce"]
PURPOSES: tuple[Purpose, ...] = (
    "confirm",
    "manage",
    "unsubscribe",
    "feedback",
    "feed",
    "archive",
    "bounce",
)
EXPIRING: frozenset[str] = frozenset({"confirm", "manage", "feedback"})
MIN_SECRET = 16
MAX_ID = 2**63 - 1
"""Ids are SQL integers; a bigger one names nothing, and the database driver would
refuse to bind it."""


_HEX = "{:x}".format


class BadToken(Exception):
    """The token is forged, damaged, expired, or made for another purpose."""


class _DatedSigner(TimestampSigner):
    """Stamps its signatures with the time a clock tells, not the time of signing."""

    def __init__(self, *args: Any, clock: Callable[[], float], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock

    def get_timestamp(self) -> int:
        return int(self._clock())


class Tokens:
    def __init__(self, secret: str, *, clock: Callable[[], float] | None = None) -> None:
        """``clock`` (seconds since the epoch) dates expiring tokens: the day's clock,
        so that a digest's links are the same whichever worker makes them, and when."""
        if len(secret) < MIN_SECRET:
            raise ValueError(f"secret_key must be at least {MIN_SECRET} characters")
        self._secret = secret
        self._signers: dict[str, Signer] = {p: _signer(secret, p, clock) for p in PURPOSES}

    def at(self, when: float) -> Tokens:
        """The same signer, with expiring tokens dated ``when`` (seconds since the
        epoch): a page made again later carries the same links."""
        return Tokens(self._secret, clock=lambda: when)

    def make(self, purpose: Purpose, *subject: int) -> str:
        """The subject's ids in hex, joined by dots, signed by the purpose's signer (with
        a timestamp for expiring purposes)."""
        return self._signers[purpose].sign(".".join(map(_HEX, subject))).decode()

    def read(self, purpose: Purpose, token: str, *, max_age: int | None = None) -> tuple[int, ...]:
        """The subject the token was made for; raises :class:`BadToken` otherwise."""
        signer = self._signers[purpose]
        try:
            if isinstance(signer, TimestampSigner):
                payload = signer.unsign(token, max_age=max_age)
            else:
                payload = signer.unsign(token)
            subject = tuple(int(part, 16) for part in payload.decode().split("."))
        except SignatureExpired as exc:
            raise BadToken("this link has expired") from exc
        except (BadSignature, ValueError, UnicodeDecodeError) as exc:
            raise BadToken("this link is not valid") from exc
        if not all(0 <= n <= MAX_ID for n in subject):
            raise BadToken("this link is not valid")
        return subject


def _signer(secret: str, purpose: Purpose, clock: Callable[[], float] | None) -> Signer:
    """itsdangerous derives the signing key from the secret and salt on every call; a
    daily run signs several links per subscriber, so derive it once. The signatures are
    the ones the plain signer makes."""
    kind = TimestampSigner if purpose in EXPIRING else Signer
    salt = f"digest.{purpose}"
    key = kind(secret, salt=salt, digest_method=hashlib.sha256).derive_key()
    if clock is not None and kind is TimestampSigner:
        return _DatedSigner(
            key, salt=salt, key_derivation="none", digest_method=hashlib.sha256, clock=clock
        )
    return kind(key, salt=salt, key_derivation="none", digest_method=hashlib.sha256)
