"""One reader's whole journey in a real headless Chromium against the real server.

uvicorn serves the app on a loopback port, mail goes over SMTP to a real aiosmtpd
server, and the store holds a real daily arXiv batch so the preview has papers.
"""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from digest.day.sources import collect_sources
from digest.day.vectors import refit
from digest.settings import Settings, SourceSettings, load_settings
from digest.store import Store
from digest.web import create_app
from tests.conftest import FIXTURES, NOW
from tests.smtp_server import SmtpServer

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
OUTPUT = Path(__file__).parent / "output"
BATCH = FIXTURES / "batches" / "2026-06-29.jsonl"
QUANTUM = "A Quantum Method of Types"
ROBOTS = "PhysisForcing: Physics Reinforced World Simulator for Robotic Manipulation"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Running:
    url: str
    settings: Settings
    store: Store


@pytest.fixture
def server(tmp_path: Path, smtp_server: SmtpServer) -> Iterator[Running]:
    port = _free_port()
    settings = load_settings(
        data_dir=tmp_path / "data",
        secret_key="browser-test-secret-" + "x" * 20,
        web={"base_url": f"http://127.0.0.1:{port}"},
        mail={"mailer": "smtp", "from_address": "digest@example.org", "retry_backoff": 0},
        smtp={"host": smtp_server.host, "port": smtp_server.port, "security": "plain"},
    )
    store = Store.open(settings.db_url)
    collect_sources(store, settings, [SourceSettings(name="batch", location=str(BATCH))], now=NOW)
    refit(store, now=NOW)
    app = create_app(settings, store=store, clock=lambda: NOW)
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield Running(f"http://127.0.0.1:{port}", settings, store)
    finally:
        uv.should_exit = True
        thread.join(timeout=15)
        store.close()


def test_subscribe_confirm_edit_preview_and_unsubscribe_in_a_real_browser(
    server: Running, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(
            timezone_id="Europe/Paris", viewport={"width": 420, "height": 900}, locale="en-GB"
        )
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))

        page.goto(server.url + "/")
        page.get_by_label("Email address").fill("ada@example.org")
        page.get_by_label("What do you want to read about?").fill("quantum")
        page.get_by_label("Send it at").select_option("8")
        expect(page.locator("#tz-name")).to_have_text("Europe/Paris")
        page.get_by_role("button", name="Subscribe").click()
        expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()

        (message,) = smtp_server.wait_for(1)
        assert message["To"] == "ada@example.org"
        body = message.get_body(("plain",))
        assert body is not None
        found = re.search(rf"{re.escape(server.url)}/c/\S+", body.get_content())
        assert found, body.get_content()
        sub = server.store.subscriber("ada@example.org")
        assert sub is not None
        assert (sub.status, sub.send_hour, sub.timezone) == ("pending", 8, "Europe/Paris")

        page.goto(found.group(0))
        page.get_by_role("button", name="Yes, confirm").click()
        page.wait_for_url(re.compile(r".*/m/[^/]+$"))
        assert server.store.subscriber("ada@example.org").status == "active"  # type: ignore[union-attr]

        preview = page.locator("#preview")
        expect(preview).to_contain_text(QUANTUM)
        expect(preview).not_to_contain_text(ROBOTS)

        page.locator("textarea[name='p0.keywords']").fill("quantum\nrobot")
        page.get_by_role("button", name="Preview without saving").click()
        expect(preview).to_contain_text("with your unsaved changes")
        expect(preview).to_contain_text(ROBOTS)
        assert [k.phrase for k in server.store.profiles(sub.id)[0].keywords] == ["quantum"]

        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.get_by_role("status")).to_have_text("Saved.")
        expect(preview).to_contain_text(ROBOTS)
        expect(preview).to_contain_text(QUANTUM)
        saved = [k.phrase for k in server.store.profiles(sub.id)[0].keywords]
        assert saved == ["quantum", "robot"]

        # a new profile (keywords only) is offered papers to rate in one step
        rating = page.locator("section[id^='rate-']")
        expect(rating).to_contain_text("Tune “main” in one step")
        first = rating.locator("input[type=radio][value^='up:']").first
        liked = (first.get_attribute("value") or "").removeprefix("up:")
        first.check()
        page.get_by_role("button", name="Save my ratings").click()
        expect(page.get_by_role("status")).to_contain_text("your ratings now steer")
        expect(page.locator("section[id^='rate-']")).to_have_count(0)
        assert server.store.profiles(sub.id)[0].liked == [liked]

        shot = tmp_path / "manage.png"
        page.screenshot(path=str(shot), full_page=True)
        OUTPUT.mkdir(exist_ok=True)
        shutil.copyfile(shot, OUTPUT / "manage.png")

        page.get_by_role("link", name="Unsubscribe").click()
        page.get_by_role("button", name="Unsubscribe").click()
        expect(page.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
        assert server.store.subscriber(sub.id).status == "unsubscribed"  # type: ignore[union-attr]

        assert problems == [], problems
        assert len(smtp_server.messages) == 1, "nothing but the confirmation was mailed"
        browser.close()


def _luminance(css_color: str) -> float:
    red, green, blue = (int(v) for v in re.findall(r"\d+", css_color)[:3])
    return (0.2126 * red + 0.7152 * green + 0.0722 * blue) / 255


def test_the_pages_follow_the_readers_dark_mode_like_the_email(server: Running) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        seen = {}
        for scheme in ("light", "dark"):
            page = browser.new_context(color_scheme=scheme).new_page()
            page.goto(server.url + "/")
            seen[scheme] = page.evaluate(
                """() => [document.body, document.querySelector('input[type=email]'),
                          document.querySelector('a')].map(e => {
                    const s = getComputedStyle(e); return [s.backgroundColor, s.color]; })"""
            )
            if scheme == "dark":
                OUTPUT.mkdir(exist_ok=True)
                page.screenshot(path=str(OUTPUT / "subscribe-dark.png"), full_page=True)
        browser.close()
    (body_bg, body_ink), (field_bg, field_ink), (_, link) = seen["dark"]
    assert _luminance(body_bg) < 0.15 and _luminance(body_ink) > 0.8
    assert _luminance(field_bg) < 0.15 and _luminance(field_ink) > 0.8
    assert _luminance(link) > 0.5
    (body_bg, body_ink), *_ = seen["light"]
    assert _luminance(body_bg) > 0.9 and _luminance(body_ink) < 0.2
