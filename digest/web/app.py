"""The subscribers' web app: subscribe, confirm, manage profiles, feedback, unsubscribe,
the personal RSS feed and the archive of sent digests.

Every page that acts on a subscriber is reached through a signed link token; the
routes are :data:`digest.links.PATHS`, the same table links are written from. A GET
never changes anything: each action is a POST from a button, and every POST route
gets its form through :func:`digest.web.core.posted`, which checks the CSRF token
first (only RFC 8058's one-click unsubscribe, sent by mail providers without cookies
or form tokens, goes without). A bad, expired or wrong-purpose token gets a plain
"this link is not valid" page, never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import Response

from digest.day.shard import open_store
from digest.links import PATHS
from digest.settings import Settings
from digest.store import Store
from digest.web import feedback, manage, reading, subscription
from digest.web.core import BadForm, Clock, LinkError, Web, secret_of, utcnow
from digest.web.security import SecurityMiddleware

log = logging.getLogger("digest.web")

# (route name in PATHS, methods, endpoint)
ROUTES: tuple[tuple[str, tuple[str, ...], Callable[..., Any]], ...] = (
    ("stylesheet", ("GET",), reading.stylesheet),
    ("health", ("GET",), reading.health),
    ("subscribe", ("GET",), subscription.subscribe_form),
    ("subscribe", ("POST",), subscription.subscribe),
    ("confirm", ("GET",), subscription.confirm_page),
    ("confirm", ("POST",), subscription.confirm),
    ("manage", ("GET",), manage.manage),
    ("manage", ("POST",), manage.manage_save),
    ("unsubscribe", ("GET",), subscription.unsubscribe_page),
    ("unsubscribe", ("POST",), subscription.unsubscribe),
    ("feed", ("GET", "HEAD"), reading.feed),
    ("archive", ("GET",), reading.archive),
    ("feedback", ("GET",), feedback.feedback_page),
    ("feedback", ("POST",), feedback.feedback),
)


def create_app(
    settings: Settings, *, store: Store | None = None, clock: Clock | None = None
) -> FastAPI:
    """The web app. Opens (and on shutdown closes) its own store unless given one."""
    secret_of(settings)
    own_store = store is None
    web = Web(settings, store or open_store(settings), clock or utcnow)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(web.warm)
        yield
        if own_store:
            web.store.close()

    app = FastAPI(
        title="digest", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.add_middleware(SecurityMiddleware)
    app.state.web = web
    _add_error_pages(app, web)
    for name, methods, endpoint in ROUTES:
        app.add_api_route(
            PATHS[name], endpoint, methods=list(methods), name=name, include_in_schema=False
        )
    return app


def _add_error_pages(app: FastAPI, web: Web) -> None:
    titles = {
        404: "Page not found",
        405: "Not allowed",
        413: "Too large",
        400: "Bad request",
    }

    async def link_error(request: Request, exc: Exception) -> Response:
        expired = isinstance(exc, LinkError) and exc.expired
        return web.message(
            request,
            "This link has expired" if expired else "This link is not valid",
            "Links from our emails last a limited time. Ask for a new one by subscribing "
            "again with the same address; nothing changes if you are already subscribed."
            if expired
            else "The link may be incomplete: some mail programs cut long links. Try "
            "copying the whole link from the email into your browser.",
            status=404,
        )

    async def bad_form(request: Request, exc: Exception) -> Response:
        return web.message(
            request,
            "This form has expired",
            "The form was too old or did not come from this site, so nothing was changed. "
            "Go back, reload the page and try again.",
            status=400,
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else ""
        if status == 404:
            detail = "There is nothing at this address."
        return web.message(request, titles.get(status, "Error"), str(detail), status=status)

    async def bad_request(request: Request, exc: Exception) -> Response:
        return web.message(request, "Bad request", "The request was not understood.", 400)

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s", request.url.path, exc_info=exc)
        return web.message(
            request, "Something went wrong", "Please try again in a little while.", status=500
        )

    app.add_exception_handler(LinkError, link_error)
    app.add_exception_handler(BadForm, bad_form)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, bad_request)
    app.add_exception_handler(Exception, server_error)
