"""A day's messages over SMTP: DKIM-signed, each with its reader's own return path."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.links import LinkMaker
from digest.settings import Settings, SettingsError, load_settings
from digest.signing import load_key, write_key
from digest.store import Store
from digest.tokens import BadToken, Tokens
from tests.smtp_server import SmtpServer
from tests.test_day import READERS, run
from tests.test_signing import verifies

pytest_plugins = ["tests.test_day"]


@pytest.fixture
def signed_settings(smtp_settings: Settings, tmp_path: Path) -> Settings:
    write_key(tmp_path / "dkim.pem", "mail2026", "rsa")
    return smtp_settings.model_copy(
        update={
            "mail": smtp_settings.mail.model_copy(update={"bounce_address": "bounces@example.org"}),
            "dkim": smtp_settings.dkim.model_copy(
                update={"key_file": tmp_path / "dkim.pem", "selector": "mail2026"}
            ),
        }
    )


def test_each_message_is_signed_and_bounces_to_its_reader(
    day_store: Store, signed_settings: Settings, smtp_server: SmtpServer
) -> None:
    report = run(day_store, signed_settings)
    assert report.sent == len(READERS)
    key = load_key(signed_settings.dkim)
    assert key is not None
    tokens = Tokens(signed_settings.secret_key.get_secret_value())  # type: ignore[union-attr]
    senders = set()
    for envelope in smtp_server.envelopes:
        assert verifies(envelope.raw, key)
        local, _, domain = envelope.mail_from.partition("@")
        assert domain == "example.org" and local.startswith("bounces+")
        (sid,) = tokens.read("bounce", local.removeprefix("bounces+"))
        sub = day_store.subscriber(sid)
        assert sub is not None and envelope.rcpt_tos == (sub.email,)
        senders.add(envelope.mail_from)
    assert len(senders) == len(READERS)


def test_a_forged_return_path_names_nobody(settings: Settings) -> None:
    tokens = Tokens("test-secret-" + "x" * 20)
    links = LinkMaker("https://x.example", tokens, "bounces@example.org")
    path = links.return_path(7)
    assert path is not None
    token = path.removeprefix("bounces+").removesuffix("@example.org")
    assert tokens.read("bounce", token) == (7,)
    forged = token.replace(token.split(".")[0], "8", 1)
    with pytest.raises(BadToken):
        tokens.read("bounce", forged)
    with pytest.raises(BadToken):  # an unsubscribe token is no return path
        tokens.read("bounce", tokens.make("unsubscribe", 7))
    assert LinkMaker("https://x.example", tokens).return_path(7) is None


def test_a_bounce_address_must_be_a_plain_address() -> None:
    with pytest.raises(SettingsError, match=r"mail\.bounce_address: must be a plain address"):
        load_settings(mail={"bounce_address": "bounces+x@example.org"})
