"""One table of URLs: the links the day writes are the routes the web app serves."""

from __future__ import annotations

import pytest
from starlette.routing import Match

from digest.links import PATHS, LinkMaker, feedback_url, path_for
from digest.settings import Settings
from digest.store import Store
from digest.tokens import Tokens
from digest.web import create_app


@pytest.fixture
def links(settings: Settings) -> LinkMaker:
    assert settings.secret_key is not None
    return LinkMaker("https://digest.example.org/", Tokens(settings.secret_key.get_secret_value()))


def _route_of(app: object, path: str, method: str = "GET") -> str:
    scope = {"type": "http", "path": path, "method": method}
    for route in app.router.routes:  # type: ignore[attr-defined]
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return str(route.name)
    raise AssertionError(f"no route serves {method} {path}")


def test_every_link_written_is_served_by_the_route_of_its_name(
    settings: Settings, store: Store, links: LinkMaker
) -> None:
    app = create_app(settings, store=store)
    base = "https://digest.example.org"
    written = {
        "confirm": links.confirm(7),
        "manage": links.manage(7),
        "unsubscribe": links.unsubscribe(7),
        "feed": links.feed(7),
        "archive": links.archive(7, 12),
        "feedback": feedback_url(links.feedback_base(7), "up", "my/profile", "astro-ph/0601001"),
    }
    for name, url in written.items():
        assert url.startswith(base + "/")
        assert _route_of(app, url.removeprefix(base)) == name
    assert _route_of(app, "/") == "subscribe"
    assert _route_of(app, "/", "POST") == "subscribe"
    assert {route.name for route in app.router.routes} == set(PATHS)  # type: ignore[attr-defined]


def test_paths_are_filled_from_the_table() -> None:
    assert path_for("manage", "tok") == "/m/tok"
    assert path_for("feed", "tok") == "/f/tok.rss"
    assert path_for("feedback", "tok") == "/fb/tok"
