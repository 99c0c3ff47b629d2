"""The app under a real uvicorn on loopback, probed with raw sockets: a client that is
slow to send its request line and headers is cut off, and a prompt one is answered."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from digest.settings import load_settings
from digest.store import Store
from digest.web import create_app
from digest.web.server import uvicorn_options
from tests.conftest import NOW

HEADER_TIMEOUT = 0.5
WAIT = 5.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def address(tmp_path: Path) -> Iterator[tuple[str, int]]:
    port = _free_port()
    settings = load_settings(
        data_dir=tmp_path / "data",
        secret_key="server-test-secret-" + "x" * 20,
        web={"base_url": f"http://127.0.0.1:{port}", "header_timeout": HEADER_TIMEOUT},
    )
    store = Store.open(settings.db_url)
    app = create_app(settings, store=store, clock=lambda: NOW)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", **uvicorn_options(settings)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield ("127.0.0.1", port)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        store.close()


def _closed_after(sock: socket.socket) -> float:
    """Seconds until the server closes the connection (reading whatever it sends)."""
    start = time.monotonic()
    sock.settimeout(WAIT)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return WAIT
    return time.monotonic() - start


def _get(sock: socket.socket, path: str = "/static/style.css") -> bytes:
    """One whole response (status line, headers and Content-Length body)."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    sock.settimeout(WAIT)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(4096)
    return head


def test_a_partial_request_line_is_cut_off_at_the_header_timeout(
    address: tuple[str, int],
) -> None:
    with socket.create_connection(address) as sock:
        sock.sendall(b"GET /static/style.css HT")
        assert _closed_after(sock) < HEADER_TIMEOUT + 1.5


def test_a_connection_that_sends_nothing_is_cut_off(address: tuple[str, int]) -> None:
    with socket.create_connection(address) as sock:
        assert _closed_after(sock) < HEADER_TIMEOUT + 1.5


def test_dribbling_header_bytes_does_not_extend_the_deadline(address: tuple[str, int]) -> None:
    with socket.create_connection(address) as sock:
        start = time.monotonic()
        try:
            for byte in b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 40:
                sock.sendall(bytes([byte]))
                time.sleep(HEADER_TIMEOUT / 10)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert time.monotonic() - start + _closed_after(sock) < HEADER_TIMEOUT + 1.5


def test_a_prompt_request_is_answered_and_a_slow_next_one_cut_off(
    address: tuple[str, int],
) -> None:
    with socket.create_connection(address) as sock:
        assert _get(sock).startswith(b"HTTP/1.1 200 ")
        time.sleep(HEADER_TIMEOUT * 1.5)
        assert _get(sock).startswith(b"HTTP/1.1 200 "), "the deadline is per request"
        sock.sendall(b"GET /static/style.css HTTP/1.1\r\nHost: loc")
        assert _closed_after(sock) < HEADER_TIMEOUT + 1.5
