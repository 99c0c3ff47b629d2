from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from digest.resources import shipped
from digest.settings import Settings, load_settings


def _fields(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str | None]]:
    found = []
    for name, info in model.model_fields.items():
        found.append((prefix + name, info.description))
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += _fields(annotation, f"{prefix}{name}.")
    return found


def test_every_setting_has_a_description() -> None:
    missing = [name for name, text in _fields(Settings) if not text]
    assert missing == []


def test_the_example_config_mentions_every_setting() -> None:
    example = (shipped("config") / "digest.example.toml").read_text()
    absent = [n for n, _ in _fields(Settings) if n.rsplit(".", 1)[-1] not in example]
    assert absent == []


def test_layers_defaults_file_then_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "digest.toml"
    config.write_text('data_dir = "from-file"\n[smtp]\nport = 2525\nhost = "file.example"\n')
    monkeypatch.setenv("DIGEST_SMTP__HOST", "env.example")
    settings = load_settings(config)
    assert settings.data_dir == Path("from-file")
    assert (settings.smtp.host, settings.smtp.port) == ("env.example", 2525)
    assert settings.mail.mailer == "maildir"


def test_secrets_are_masked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SECRET_KEY", "s3cret-value")
    monkeypatch.setenv("DIGEST_SMTP__PASSWORD", "hunter2")
    settings = load_settings()
    assert settings.secret_key is not None
    assert settings.secret_key.get_secret_value() == "s3cret-value"
    dumped = json.dumps(settings.masked())
    assert "s3cret-value" not in dumped and "hunter2" not in dumped


def test_no_secret_key_by_default() -> None:
    assert load_settings().secret_key is None


def test_a_typo_in_the_config_file_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "digest.toml"
    config.write_text("[smtp]\nprot = 25\n")
    with pytest.raises(ValidationError, match="prot"):
        load_settings(config)


def test_a_named_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_settings(tmp_path / "nope.toml")
