"""A real HTTP server on loopback that serves recorded feeds, with scripted failures."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Route:
    """What one path answers: ``script`` statuses first (500, 'slow'…), then ``body``."""

    body: bytes
    content_type: str = "application/xml"
    etag: str | None = None
    last_modified: str | None = None
    script: list[int | str] = field(default_factory=list)
    encoding: str | None = None  # a Content-Encoding the body is already in


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


class FeedServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Seen] = []
        self.slow_seconds = 2.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(Seen(self.path, dict(self.headers.items())))
                route = server.routes.get(self.path) or server.routes.get(
                    self.path.split("?", 1)[0]
                )
                if route is None:
                    self.send_error(404)
                    return
                if route.script:
                    step = route.script.pop(0)
                    if step == "slow":
                        time.sleep(server.slow_seconds)
                    else:
                        self.send_error(int(step))
                        return
                fresh = route.etag and self.headers.get("If-None-Match") == route.etag
                if fresh:
                    self.send_response(304)
                    self.send_header("ETag", route.etag or "")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(route.body)))
                if route.etag:
                    self.send_header("ETag", route.etag)
                if route.last_modified:
                    self.send_header("Last-Modified", route.last_modified)
                if route.encoding:
                    self.send_header("Content-Encoding", route.encoding)
                self.end_headers()
                self.wfile.write(route.body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def serve(self, path: str, route: Route) -> str:
        self.routes[path] = route
        return self.url + path


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()
