"""Sending for real through the command line: init --dkim, doctor, bounces, the
suppression list."""

from __future__ import annotations

import email
import os
from email import policy
from pathlib import Path

import pytest
import time_machine
from click.testing import Result

from digest.settings import load_settings
from digest.signing import load_key
from tests.conftest import FIXTURES, NOW
from tests.test_bounces import drop
from tests.test_cli import _readers
from tests.test_signing import verifies

pytest_plugins = ["tests.test_cli"]  # its ``run`` fixture


def test_init_makes_a_dkim_key_and_says_what_to_publish(run, tmp_path: Path) -> None:
    result = run("init", "--dkim", "rsa")
    assert result.exit_code == 0, result.output
    path = tmp_path / "config" / "dkim" / "digest.pem"
    assert path.stat().st_mode & 0o777 == 0o600
    settings = load_settings(tmp_path / "config" / "digest.toml")
    assert settings.dkim.key_file == Path("config/dkim/digest.pem")
    key = load_key(settings.dkim)
    assert key is not None and key.kind == "rsa"
    assert "publish this TXT record in the DNS of localhost:" in result.output
    entry = result.output.splitlines()[-1]
    assert entry.startswith('digest._domainkey.localhost. IN TXT ( "v=DKIM1; k=rsa; p=')
    strings = entry.split("( ")[1].removesuffix(" )").split('" "')
    assert all(len(s.strip('"')) <= 255 for s in strings)
    assert "".join(s.strip('"') for s in strings) == key.dns_record()
    again = run("init", "--dkim", "rsa")  # the key is kept
    assert "DKIM key already at config/dkim/digest.pem: kept" in again.output
    assert again.output.splitlines()[-1] == entry


def test_doctor_says_what_is_missing_then_that_all_is_ready(
    run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = run("doctor")
    assert first.exit_code == 1
    fixes = [line.split()[1:3] for line in first.output.splitlines() if line.startswith("FIX")]
    assert [f[0] for f in fixes] == ["From", "DKIM", "HTTPS", "one-click", "bounce", "mailer"]
    assert "dkim.key_file is not set: `digest init --dkim rsa`" in first.output
    assert first.output.endswith("6 to fix\n")

    run("init", "--dkim", "ed25519")
    monkeypatch.setenv("DIGEST_CONFIG", str(tmp_path / "config" / "digest.toml"))
    (tmp_path / "bounces" / "new").mkdir(parents=True)
    (tmp_path / "bounces" / "cur").mkdir()
    for name, value in {
        "MAIL__FROM_ADDRESS": "digest@papers.example-lab.net",
        "MAIL__BOUNCE_ADDRESS": "bounces@papers.example-lab.net",
        "MAIL__MAILER": "smtp",
        "WEB__BASE_URL": "https://papers.example-lab.net",
        "BOUNCES__MAILDIR": str(tmp_path / "bounces"),
    }.items():
        monkeypatch.setenv(f"DIGEST_{name}", value)
    ready = run("doctor")
    assert ready.exit_code == 0, ready.output
    assert "ok   DKIM key" in ready.output
    assert "digest._domainkey.papers.example-lab.net" in ready.output
    assert ready.output.endswith("ready to send\n")


def outbox(folder: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted((folder / "new").iterdir())]


def test_a_bounce_for_a_sent_digest_suppresses_until_resumed(
    run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", "k" * 32)
    monkeypatch.setenv("DIGEST_MAIL__FROM_ADDRESS", "digest@example.org")
    monkeypatch.setenv("DIGEST_MAIL__BOUNCE_ADDRESS", "bounces@example.org")
    monkeypatch.setenv("DIGEST_BOUNCES__MAILDIR", str(tmp_path / "bounces"))
    run("init", "--dkim", "rsa")
    monkeypatch.setenv("DIGEST_DKIM__KEY_FILE", str(tmp_path / "config/dkim/digest.pem"))
    run("profile", "import", *_readers(tmp_path))
    run("collect", str(FIXTURES / "batches" / "2026-06-30.jsonl"))
    (tmp_path / "bounces" / "new").mkdir(parents=True)
    (tmp_path / "bounces" / "cur").mkdir()
    with time_machine.travel(NOW, tick=False):
        day: Result = run("run", "--no-collect", "--workers", "1")
    assert day.exit_code == 0, day.output
    assert "bounce mailbox: 0 read" in day.output
    key = load_key(load_settings().dkim)
    assert key is not None
    sent = {}
    for raw in outbox(tmp_path / "data" / "outbox"):
        assert verifies(raw, key, "example.org")
        message = email.message_from_bytes(raw, policy=policy.default)
        sent[str(message["To"])] = str(message["Return-Path"]).strip("<>")
    assert set(sent) == {"ada@example.org", "bob@example.org"}
    assert len(set(sent.values())) == 2
    assert all(v.startswith("bounces+") for v in sent.values())

    bounce = (FIXTURES / "bounces" / "gmail-no-such-user.eml").read_text()
    bounce = bounce.replace("{{RETURN_PATH}}", sent["bob@example.org"])
    bounce = bounce.replace("{{READER}}", "bob@example.org").replace("{{UNSUBSCRIBE}}", "")
    drop(tmp_path / "bounces", "1763650000.M1P1.mx", bounce.encode())
    read = run("bounces")
    assert read.exit_code == 0, read.output
    assert read.output.startswith("bounce mailbox: 1 read · 1 suppressed")
    assert "suppressed bob@example.org (hard): 5.1.1 smtp; 550-5.1.1" in read.output
    listed = run("subscribers", "--suppressed").output.splitlines()
    assert listed[0].split() == ["email", "kind", "since", "why"]
    assert listed[1].split()[:2] == ["bob@example.org", "hard"]
    assert "suppressed" in run("subscribers", "list", "--status", "suppressed").output
    shown = run("subscribers", "show", "bob@example.org").output
    assert "suppressed since " in shown and "(hard): 5.1.1 smtp; 550-5.1.1" in shown
    assert os.listdir(tmp_path / "bounces" / "new") == []

    assert run("subscribers", "resume", "bob@example.org").output == "resumed bob@example.org\n"
    assert run("subscribers", "--suppressed").output == "no suppressed subscribers\n"
    assert run("subscribers", "resume", "bob@example.org").exit_code == 1


def test_the_demo_signs_with_a_throwaway_key_and_gives_each_reader_a_return_path(
    tmp_path: Path,
) -> None:
    import re

    import dkim
    from click.testing import CliRunner

    from digest.cli import main

    result = CliRunner().invoke(main, ["demo", "--dir", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    published = tmp_path / "demo" / "outbox-dkim.txt"
    assert f"the key to publish: {published}" in result.output
    text = published.read_text()
    assert "-----BEGIN PUBLIC KEY-----" in text
    entry = next(line for line in text.splitlines() if "IN TXT" in line)
    name = entry.split(". IN TXT")[0]
    record = "".join(re.findall(r'"([^"]*)"', entry)).encode()
    assert name == "demo._domainkey.example.org"

    def txt(asked: bytes | str, timeout: int = 5) -> bytes | None:
        asked = asked.decode() if isinstance(asked, bytes) else asked
        return record if asked.rstrip(".") == name else None

    paths = set()
    for message in (tmp_path / "demo" / "outbox" / "new").iterdir():
        raw = message.read_bytes()
        assert dkim.verify(raw, dnsfunc=txt)
        first = raw.split(b"\n", 1)[0].decode()
        assert re.fullmatch(r"Return-Path: <bounces\+[0-9a-f]+\.[\w-]{43}@example\.org>", first)
        paths.add(first)
    assert len(paths) == 2
