from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from digest.settings import Settings, load_settings
from digest.store import Store

if TYPE_CHECKING:
    from tests.postgres import PostgresServer

pytest_plugins = [
    "tests.day_fixtures",
    "tests.feed_server",
    "tests.imap_server",
    "tests.postgres",
    "tests.smtp_server",
]

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2026, 11, 20, 6, 0, 0)
NewDatabase = Callable[[], str | None]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's config or environment."""
    for name in [n for n in __import__("os").environ if n.startswith("DIGEST_")]:
        monkeypatch.delenv(name)
    empty = tmp_path / "isolated-empty.toml"
    empty.touch()
    monkeypatch.setenv("DIGEST_CONFIG", str(empty))


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Every test that stores anything runs on both databases digest supports."""
    return str(request.param)


@pytest.fixture
def new_database(backend: str, request: pytest.FixtureRequest) -> Iterator[NewDatabase]:
    """Makes databases of the test's backend: None for SQLite in the data folder (the
    default), or the URL of a fresh, migrated PostgreSQL database."""
    made: list[str] = []
    server: PostgresServer | None = None
    if backend == "postgresql":
        server = request.getfixturevalue("postgres")

    def make() -> str | None:
        if server is None:
            return None
        made.append(server.create())
        return made[-1]

    yield make
    for url in made:
        assert server is not None
        server.drop(url)


@pytest.fixture
def database_url(new_database: NewDatabase) -> str | None:
    return new_database()


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        secret_key="test-secret-" + "x" * 20,
        database_url=database_url,
    )


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    s = Store.open(settings.db_url)
    yield s
    s.close()
