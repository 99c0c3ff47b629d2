"""A real IMAP server (pymap, its in-memory backend) on loopback, in its own process.

Use the ``imap_server`` fixture: ``.host``, ``.port``, ``.user``, ``.password``; put
messages in with :meth:`ImapServer.append` and read their flags with
:meth:`ImapServer.flags`, both through the standard library's IMAP client.
"""

from __future__ import annotations

import imaplib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class ImapServer:
    host: str
    port: int
    user: str = "bounces"
    password: str = "bounce-pass"

    def _login(self) -> imaplib.IMAP4:
        conn = imaplib.IMAP4(self.host, self.port, timeout=10)
        conn.login(self.user, self.password)
        return conn

    def append(self, data: bytes, folder: str = "INBOX") -> None:
        conn = self._login()
        try:
            kind, answer = conn.append(folder, "", imaplib.Time2Internaldate(time.time()), data)
            assert kind == "OK", answer
        finally:
            conn.logout()

    def flags(self, folder: str = "INBOX") -> list[str]:
        """Each message's flags, in order."""
        conn = self._login()
        try:
            conn.select(folder)
            kind, found = conn.fetch("1:*", "(FLAGS)")
            assert kind == "OK"
            return [line.decode() for line in found if isinstance(line, bytes)]
        finally:
            conn.logout()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def imap_server() -> Iterator[ImapServer]:
    port = _free_port()
    pymap = shutil.which("pymap", path=str(Path(sys.executable).parent))
    assert pymap is not None, "pymap is a test dependency: pip install -e '.[test]'"
    server = ImapServer("127.0.0.1", port)
    proc = subprocess.Popen(
        [
            pymap, "--host", server.host, "--port", str(port), "--no-tls",
            "dict", "--demo-user", server.user, "--demo-password", server.password,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection((server.host, port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"pymap did not start: {proc.stderr.read()!r}") from None  # type: ignore[union-attr]
                time.sleep(0.05)
        yield server
    finally:
        proc.terminate()
        proc.wait(timeout=10)
