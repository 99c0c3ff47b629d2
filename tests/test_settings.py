from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from digest.resources import shipped
from digest.settings import Settings, SettingsError, load_settings


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


def _documented(example: str) -> set[str]:
    """Every ``# key = …`` line of the example, as ``section.key``; a ``[section]``
    header documents the section, ``# [[list]]`` a list of tables (whose keys belong
    to its items, not to the settings)."""
    found: set[str] = set()
    prefix, in_list = "", False
    for line in example.splitlines():
        if header := re.match(r"^\[(\w+)\]\s*$", line):
            prefix, in_list = header.group(1) + ".", False
            found.add(header.group(1))
        elif table := re.match(r"^#\s*\[\[(\w+)\]\]", line):
            found.add(prefix + table.group(1))
            in_list = True
        elif (key := re.match(r"^#\s*(\w+)\s*=", line)) and not in_list:
            found.add(prefix + key.group(1))
    return found


def test_the_example_config_documents_exactly_the_settings() -> None:
    example = (shipped("config") / "digest.example.toml").read_text()
    assert _documented(example) == {n for n, _ in _fields(Settings)}


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


def test_a_typo_in_the_config_file_is_an_error_naming_the_file(tmp_path: Path) -> None:
    config = tmp_path / "digest.toml"
    config.write_text("[smtp]\nprot = 25\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(config)
    assert str(caught.value) == f"{config}: unknown setting 'smtp.prot'"


def test_a_bad_value_names_the_file_the_setting_and_the_value(tmp_path: Path) -> None:
    config = tmp_path / "digest.toml"
    config.write_text('[smtp]\nport = "twenty-five"\n')
    with pytest.raises(SettingsError) as caught:
        load_settings(config)
    message = str(caught.value)
    assert message.startswith(f"{config}: smtp.port: ") and "'twenty-five'" in message
    assert "\n" not in message and "pydantic" not in message


def test_a_bad_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_SMTP__PORT", "x")
    with pytest.raises(SettingsError, match=r"^\$DIGEST_SMTP__PORT: smtp\.port: "):
        load_settings()


def test_a_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "digest.toml"
    config.write_text("secret_key = \n")
    with pytest.raises(SettingsError, match=rf"^{config}: not valid TOML: .*line 1"):
        load_settings(config)


def test_a_named_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"config file not found: .*nope\.toml"):
        load_settings(tmp_path / "nope.toml")


def test_a_config_file_named_by_the_environment_must_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(SettingsError, match=r"nope.toml \(named by \$DIGEST_CONFIG\)"):
        load_settings()


@pytest.mark.parametrize("url", ["localhost:8000", "digest.example.org", "ftp://example.org"])
def test_base_url_must_be_an_absolute_http_url(url: str) -> None:
    with pytest.raises(SettingsError, match=r"web\.base_url: must be an absolute http"):
        load_settings(web={"base_url": url})
    assert load_settings(web={"base_url": "https://digest.example.org/d"}).web.base_url


def test_a_collect_cron_that_is_not_a_crontab_is_refused_at_load(tmp_path: Path) -> None:
    config = tmp_path / "digest.toml"
    config.write_text('[schedule]\ncollect_cron = "every day"\n')
    with pytest.raises(SettingsError, match=r"schedule\.collect_cron: not a crontab expression"):
        load_settings(config)


def test_passwords_in_the_database_and_broker_urls_are_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DIGEST_DATABASE_URL", "postgresql+psycopg://digest:pg-pass@db:5432/digest")
    monkeypatch.setenv("DIGEST_CELERY__BROKER_URL", "redis://:redis-pass@broker:6379/0")
    dumped = load_settings().masked()
    assert dumped["database_url"] == "postgresql+psycopg://digest:**********@db:5432/digest"
    assert dumped["celery"]["broker_url"] == "redis://:**********@broker:6379/0"
    plain = load_settings(database_url="postgresql+psycopg://digest@db/digest").masked()
    assert plain["database_url"] == "postgresql+psycopg://digest@db/digest"
