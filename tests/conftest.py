from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from digest.settings import Settings, load_settings
from digest.store import Store

pytest_plugins = ["tests.feed_server", "tests.smtp_server", "tests.imap_server"]

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2026, 11, 20, 6, 0, 0)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's config or environment."""
    for name in [n for n in __import__("os").environ if n.startswith("DIGEST_")]:
        monkeypatch.delenv(name)
    empty = tmp_path / "isolated-empty.toml"
    empty.touch()
    monkeypatch.setenv("DIGEST_CONFIG", str(empty))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data", secret_key="test-secret-" + "x" * 20)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    s = Store.open(settings.db_url)
    yield s
    s.close()
