"""Feedback on one paper: the 👍/👎 links in every digest and feed item."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import Response

from digest.web import rules
from digest.web.core import CheckedForm, LinkError, Web, web_of
from digest.web.rules import Feedback


def target(web: Web, request: Request, token: str, vote: str) -> Feedback:
    """The profile and paper come from the raw path: both are percent-encoded and
    either may contain ``/`` (``astro-ph/0601001``), and only the paper id is last.
    Only papers sent to the reader can be rated: any other id is a link never given."""
    if vote not in ("up", "down"):
        raise HTTPException(404)
    sub = web.subscriber_for("feedback", token)
    raw = request.scope.get("raw_path") or request.url.path.encode()
    parts = raw.decode("latin-1").split("?", 1)[0].split("/")
    start = next(
        (i for i in range(len(parts) - 2) if parts[i : i + 3] == ["fb", token, vote]), None
    )
    if start is None or len(parts) < start + 5:
        raise HTTPException(404)
    profile = unquote(parts[start + 3])
    paper_id = unquote("/".join(parts[start + 4 :]))
    if not profile or not paper_id or len(profile) > 100 or len(paper_id) > 300:
        raise HTTPException(404)
    found = Feedback(sub, vote, profile, paper_id)
    if not rules.was_sent(web.store, found):
        raise LinkError()
    return found


def context(web: Web, found: Feedback) -> dict[str, Any]:
    paper = web.store.get_papers([found.paper_id]).get(found.paper_id)
    return {
        "vote": found.vote,
        "profile": found.profile,
        "paper_id": found.paper_id,
        "paper": paper,
        "manage_path": web.links.path("manage", found.subscriber.id),
    }


def profile_gone(web: Web, request: Request, found: Feedback) -> Response:
    return web.message(
        request,
        "This profile is gone",
        f"You no longer have a profile called “{found.profile}”.",
        status=404,
    )


def feedback_page(request: Request, token: str, vote: str, rest: str) -> Response:
    web = web_of(request)
    found = target(web, request, token, vote)
    if not rules.has_profile(web.store, found):
        return profile_gone(web, request, found)
    return web.page(
        request,
        "feedback.html",
        title="Feedback",
        csrf=web.form_token(request),
        **context(web, found),
    )


async def feedback(
    request: Request, token: str, vote: str, rest: str, form: CheckedForm
) -> Response:
    web = web_of(request)
    found = target(web, request, token, vote)
    recorded = await run_in_threadpool(
        rules.record_feedback, web.store, found, now=web.clock(), models=web.models
    )
    if not recorded:
        return profile_gone(web, request, found)
    return web.page(request, "feedback_done.html", title="Thank you", **context(web, found))
