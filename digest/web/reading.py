"""What is read rather than filled in: the personal RSS feed, a sent digest, the
stylesheet, and the health check."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from fastapi import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from digest.day import feeds
from digest.day import preview as previews
from digest.models import Status
from digest.web.core import LinkError, web_of
from digest.web.security import ARCHIVE_POLICY

RSS = "application/rss+xml; charset=utf-8"


def stylesheet(request: Request) -> Response:
    web = web_of(request)
    assert web.templates.loader is not None
    css, _, _ = web.templates.loader.get_source(web.templates, "web/style.css")
    return Response(
        css, media_type="text/css; charset=utf-8", headers={"Cache-Control": "max-age=3600"}
    )


def health(request: Request) -> Response:
    """For a load balancer or a monitor: 200 while the database answers, 503 if not."""
    try:
        web_of(request).store.model_version()
    except Exception:
        return JSONResponse({"status": "down", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"}, headers={"Cache-Control": "no-store"})


def feed(request: Request, token: str) -> Response:
    """The reader's last digests, with validators that cost no rendering: from the
    ledger rows they come from (``feed_storage = "ledger"``), or from the sizes and
    times of the fragments the day wrote. A conditional GET is answered from those
    alone; only a changed feed is rendered (or its fragments read)."""
    web = web_of(request)
    sub = web.subscriber_for("feed", token)
    if sub.status == Status.UNSUBSCRIBED:
        return Response(status_code=410)
    rows = None
    stored = None
    body: bytes | None = None
    modified: datetime | None
    if web.settings.feed_storage == "ledger":
        rows = feeds.recent(web.store, sub, web.settings)
        etag = feeds.ledger_etag(rows)
        modified = max((feeds.when(d) for d in rows), default=None)
    else:
        stored = feeds.stored_feed(web.settings, web.links, sub.id, store=web.store)
        if stored is not None:
            etag, modified = stored.etag, stored.modified
        else:
            body, modified = feeds.feed_xml(
                web.store, web.settings, sub, links=web.links, renderer=web.renderer()
            )
            etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {"ETag": etag, "Cache-Control": "private, max-age=900"}
    if modified is not None:
        if modified.tzinfo is None:
            modified = modified.replace(tzinfo=UTC)
        headers["Last-Modified"] = format_datetime(modified.astimezone(UTC), usegmt=True)
    if not_modified(request, headers["ETag"], modified):
        return Response(status_code=304, headers=headers)
    if body is None:
        if stored is not None:
            body = stored.xml(web.renderer(), web.settings, web.links, sub)
        else:
            body, _ = feeds.feed_xml(
                web.store, web.settings, sub, links=web.links, renderer=web.renderer(), rows=rows
            )
    return Response(body, media_type=RSS, headers=headers)


def not_modified(request: Request, etag: str, modified: datetime | None) -> bool:
    """Conditional GET (RFC 9110): If-None-Match wins; If-Modified-Since is only used
    without it."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or etag in tags
    since = request.headers.get("if-modified-since")
    if since is None or modified is None:
        return False
    try:
        when = parsedate_to_datetime(since)
    except (TypeError, ValueError, IndexError):
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return modified.replace(microsecond=0) <= when


def archive(request: Request, token: str) -> Response:
    web = web_of(request)
    sid, delivery_id = web.read_token("archive", token, size=2)
    html = previews.archive_html(web.store, web.settings, sid, delivery_id)
    if html is None:
        raise LinkError()
    return HTMLResponse(
        html,
        headers={"Content-Security-Policy": ARCHIVE_POLICY, "Cache-Control": "private"},
    )
