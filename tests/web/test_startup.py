"""Starting the app: secrets, security headers, the scheduler beside it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from digest.settings import Settings, load_settings
from digest.web import MissingSecret, create_app
from digest.web.server import HeaderDeadline

# start-up -----------------------------------------------------------------------------


@pytest.mark.parametrize("production", [True, False])
def test_the_app_refuses_to_start_without_a_secret(tmp_path: Path, production: bool) -> None:
    bare = load_settings(data_dir=tmp_path / "data", web={"production": production})
    with pytest.raises(MissingSecret, match=r"digest init.*DIGEST_SECRET_KEY"):
        create_app(bare)


def test_a_too_short_secret_is_refused(tmp_path: Path) -> None:
    weak = load_settings(data_dir=tmp_path / "data", secret_key="short")
    with pytest.raises(MissingSecret, match="at least 16"):
        create_app(weak)


def test_serve_runs_the_scheduler_alongside_the_server(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import uvicorn
    from sqlalchemy import create_engine, text

    from digest.web import serve

    seen: dict[str, object] = {}

    def run(app: object, **options: object) -> None:
        seen["app"], seen["options"] = app, options
        seen["threads"] = [t.name for t in threading.enumerate()]
        engine = create_engine(settings.db_url)
        with engine.connect() as conn:
            seen["jobs"] = sorted(conn.execute(text("SELECT id FROM apscheduler_jobs")).scalars())
        engine.dispose()

    monkeypatch.setattr(uvicorn, "run", run)
    serve(settings, "127.0.0.1", 8123)
    options = dict(seen["options"])  # type: ignore[call-overload]
    protocol = options.pop("http")
    assert issubclass(protocol, HeaderDeadline) and protocol.header_timeout == 10.0
    assert options == {
        "host": "127.0.0.1",
        "port": 8123,
        "log_level": "info",
        "proxy_headers": True,
        "server_header": False,
        "timeout_keep_alive": 5,
        "limit_concurrency": 1000,
        "h11_max_incomplete_event_size": 16 * 1024,
    }
    assert "APScheduler" in seen["threads"]  # type: ignore[operator]
    assert seen["jobs"] == ["digest.collect", "digest.deliver"]
    assert "APScheduler" not in [t.name for t in threading.enumerate()], "stopped on exit"


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
