"""Starting the app: secrets, security headers, the scheduler beside it."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from digest.settings import load_settings
from digest.web import MissingSecret, create_app

# start-up -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_app_refuses_to_start_without_a_secret(tmp_path: Path) -> None:
    bare = load_settings(data_dir=tmp_path / "data")
    with pytest.raises(MissingSecret, match=r"digest init.*DIGEST_SECRET_KEY"):
        create_app(bare)


def test_a_too_short_secret_is_refused(tmp_path: Path) -> None:
    weak = load_settings(data_dir=tmp_path / "data", secret_key="short")
    with pytest.raises(MissingSecret, match="at least 16"):
        create_app(weak)


def test_serve_answers_on_a_real_port_with_the_scheduler_beside_it(tmp_path: Path) -> None:
    port = _free_port()
    data = tmp_path / "data"
    config = tmp_path / "digest.toml"
    config.write_text(
        f'data_dir = "{data}"\nsecret_key = "{"s" * 32}"\n'
        f'[web]\nbase_url = "http://127.0.0.1:{port}"\n',
        encoding="utf-8",
    )
    digest = [str(Path(sys.executable).with_name("digest")), "--config", str(config)]
    assert subprocess.run([digest[0], "init", *digest[1:]], capture_output=True).returncode == 0
    server = subprocess.Popen(
        [digest[0], "serve", "--port", str(port), *digest[1:]],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        health = None
        for _ in range(100):
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert health is not None and health.status_code == 200
        assert health.json() == {"status": "ok", "database": "ok"}
        assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200
        engine = create_engine(f"sqlite:///{data / 'digest.db'}")
        with engine.connect() as conn:
            jobs = sorted(conn.execute(text("SELECT id FROM apscheduler_jobs")).scalars())
        engine.dispose()
        assert jobs == ["digest.collect", "digest.deliver"]
    finally:
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=30)
    assert server.returncode == 0, out
    assert "scheduler: collect" in out


def test_pages_have_security_headers_and_the_stylesheet_is_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    policy_header = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy_header
    nonce = re.search(r"'nonce-([^']+)'", policy_header)
    assert nonce and f'<script nonce="{nonce.group(1)}">' in page.text
    css = client.get("/static/style.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_unknown_pages_get_a_plain_404_page(client: TestClient) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert "Page not found" in response.text
