"""A real PostgreSQL server on loopback, started once per test session.

``initdb`` into a temporary folder, ``pg_ctl start`` on a free port of 127.0.0.1 (and a
socket in that folder), durability switched off since the data dies with the session.
The schema is migrated once into a template database; each test gets a fresh copy of
it (``CREATE DATABASE … TEMPLATE``), so tests stay independent and cheap. Run as
root, the server runs as the ``postgres`` user (``initdb`` refuses root).

``bash tests/run`` installs Debian's ``postgresql`` when no ``initdb`` is found.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from digest.store import Store

SEARCH = ["/usr/lib/postgresql/*/bin", "/usr/local/pgsql/bin", "/usr/local/bin"]


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for pattern in SEARCH:
        for folder in sorted(glob.glob(pattern), reverse=True):
            if os.access(os.path.join(folder, name), os.X_OK):
                return os.path.join(folder, name)
    raise RuntimeError(
        f"PostgreSQL's {name} not found: `bash tests/run` installs Debian's postgresql"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


@dataclass
class PostgresServer:
    folder: Path
    port: int
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        )

    def create(self, template: str | None = "digest_template") -> str:
        """A new, empty database (a copy of the migrated template); its SQLAlchemy URL."""
        name = f"t{os.getpid()}_{next(self._counter)}"
        like = f" TEMPLATE {template} STRATEGY FILE_COPY" if template else ""
        with self._admin() as conn:
            conn.execute(f"CREATE DATABASE {name}{like}")  # type: ignore[arg-type]
        return self.url(name)

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with self._admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]


def start_postgres(folder: Path) -> PostgresServer:
    data = folder / "data"
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    subprocess.run(
        _as_server_user(
            [
                _binary("initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ]
        ),
        check=True,
        capture_output=True,
    )
    port = _free_port()
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={folder}"
        " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        " -c max_connections=300 -c log_min_messages=warning"
    )
    subprocess.run(
        _as_server_user(
            [
                _binary("pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(folder / "server.log"),
                "-w",
                "-t",
                "60",
                "-o",
                options,
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    server = PostgresServer(folder, port)
    with server._admin() as conn:
        conn.execute("CREATE DATABASE digest_template")
    store = Store.open(server.url("digest_template"))
    store.close()
    return server


def stop_postgres(server: PostgresServer) -> None:
    subprocess.run(
        _as_server_user(
            [_binary("pg_ctl"), "-D", str(server.folder / "data"), "-m", "immediate", "stop"]
        ),
        check=False,
        capture_output=True,
    )
    shutil.rmtree(server.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = start_postgres(Path(tempfile.mkdtemp(prefix="digest-pg-")))
    try:
        yield server
    finally:
        stop_postgres(server)
