"""How uvicorn serves the web app: its options, and a deadline for request headers.

uvicorn closes an idle keep-alive connection after ``timeout_keep_alive``, but has no
timeout of its own for reading a request: a client that opens a connection and sends
half a request line holds it for as long as it likes, and a few hundred of those use up
the server. :class:`HeaderDeadline` closes a connection whose request line and headers
are not complete ``header_timeout`` seconds after the connection opened or, on a
kept-alive connection, after the next request's first byte. A slow *body* is not timed
here: bodies are capped at :data:`digest.web.security.MAX_BODY`, and
``max_concurrency`` caps how many connections and requests are held at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from digest.settings import Settings

MAX_HEADER_BYTES = 16 * 1024
"""The request line and headers together; every URL the app hands out is far shorter."""


class HeaderDeadline(H11Protocol):
    """uvicorn's h11 protocol with a deadline for a request's line and headers."""

    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:
            if self._deadline is None:
                self._arm()
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.logger.info("closing a connection that did not send its headers in time")
            self.transport.close()


def protocol(header_timeout: float) -> type[HeaderDeadline]:
    """The protocol class for uvicorn's ``http`` option, with this header deadline."""
    return type("HeaderDeadline", (HeaderDeadline,), {"header_timeout": header_timeout})


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The connection limits for ``uvicorn.run`` / ``uvicorn.Config``, from settings."""
    web = settings.web
    return {
        "http": protocol(web.header_timeout),
        "timeout_keep_alive": web.keep_alive_timeout,
        "limit_concurrency": web.max_concurrency,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
    }
