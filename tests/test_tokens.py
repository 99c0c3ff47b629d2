"""Signed link tokens: the signing key is derived once, the tokens stay the standard ones."""

from __future__ import annotations

import hashlib

import pytest
import time_machine
from itsdangerous import Signer, TimestampSigner

from digest.tokens import BadToken, Tokens

SECRET = "token-secret-" + "y" * 20


def test_tokens_are_what_a_plain_itsdangerous_signer_makes() -> None:
    tokens = Tokens(SECRET)
    for purpose in ("unsubscribe", "feed", "archive"):
        plain = Signer(SECRET, salt=f"digest.{purpose}", digest_method=hashlib.sha256)
        for subject in [(42,), (0,), (3, 123456789)]:
            payload = ".".join(f"{n:x}" for n in subject)
            assert tokens.make(purpose, *subject) == plain.sign(payload).decode()  # type: ignore[arg-type]
            assert plain.unsign(tokens.make(purpose, *subject)) == payload.encode()  # type: ignore[arg-type]
    for purpose in ("manage", "confirm", "feedback"):
        timed = TimestampSigner(SECRET, salt=f"digest.{purpose}", digest_method=hashlib.sha256)
        with time_machine.travel("2026-11-20 07:00:00Z", tick=False):
            assert tokens.make(purpose, 7) == timed.sign("7").decode()  # type: ignore[arg-type]
        assert timed.unsign(tokens.make(purpose, 7), max_age=60) == b"7"  # type: ignore[arg-type]


def test_tokens_read_back_only_for_their_purpose_and_secret() -> None:
    tokens = Tokens(SECRET)
    token = tokens.make("archive", 3, 19)
    assert tokens.read("archive", token) == (3, 19)
    with pytest.raises(BadToken):
        tokens.read("feed", token)
    with pytest.raises(BadToken):
        Tokens("another-secret-" + "z" * 20).read("archive", token)
    with pytest.raises(BadToken):
        tokens.read("archive", token[:-1] + ("A" if token[-1] != "A" else "B"))


def test_expiring_tokens_expire() -> None:
    tokens = Tokens(SECRET)
    with time_machine.travel("2026-11-20 07:00:00Z", tick=False):
        token = tokens.make("manage", 5)
    with time_machine.travel("2026-11-20 08:00:00Z", tick=False):
        assert tokens.read("manage", token, max_age=7200) == (5,)
    with (
        time_machine.travel("2026-11-20 10:00:01Z", tick=False),
        pytest.raises(BadToken, match="expired"),
    ):
        tokens.read("manage", token, max_age=7200)


def test_ids_beyond_the_database_range_never_read_back() -> None:
    tokens = Tokens(SECRET)
    assert tokens.read("feed", tokens.make("feed", 2**63 - 1)) == (2**63 - 1,)
    for purpose, subject in [("feed", (2**63,)), ("archive", (1, 2**64)), ("manage", (16**40,))]:
        with pytest.raises(BadToken, match="not valid"):
            tokens.read(purpose, tokens.make(purpose, *subject))  # type: ignore[arg-type]
