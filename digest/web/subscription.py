"""The subscription pages: subscribe (with double opt-in), confirm, unsubscribe."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from digest.models import Status
from digest.web import forms, rules
from digest.web.core import CheckedForm, LinkError, Web, subscribe_scope, web_of
from digest.web.mail import send_link_mail
from digest.web.security import CSRF_COOKIE, new_form_cookie

BLANK_SUBSCRIBE = {"email": "", "interests": "", "send_hour": "7", "timezone": ""}


def subscribe_page(
    web: Web,
    request: Request,
    cookie: str,
    *,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    return web.page(
        request,
        "subscribe.html",
        status,
        title="Subscribe",
        csrf=web.csrf.make(subscribe_scope(cookie)),
        values={**BLANK_SUBSCRIBE, **(values or {})},
        errors=errors or {},
        hours=range(24),
    )


def subscribe_form(request: Request) -> Response:
    web = web_of(request)
    cookie = request.cookies.get(CSRF_COOKIE) or new_form_cookie()
    response = subscribe_page(web, request, cookie)
    response.set_cookie(
        CSRF_COOKIE,
        cookie,
        max_age=web.csrf.max_age,
        httponly=True,
        samesite="lax",
        secure=web.secure_cookies,
    )
    return response


async def subscribe(request: Request, form: CheckedForm) -> Response:
    web = web_of(request)
    parsed, errors = forms.parse_subscribe(form.fields)
    if parsed is None:
        return subscribe_page(
            web,
            request,
            request.cookies[CSRF_COOKIE],
            values=forms.subscribe_values(form.fields),
            errors=errors,
            status=400,
        )
    mail = await run_in_threadpool(rules.subscribe, web.store, web.links, parsed, now=web.clock())
    response = web.page(request, "check_inbox.html", title="Check your inbox", email=parsed.email)
    if mail is not None:
        response.background = BackgroundTask(
            send_link_mail, web.settings, web.templates, mail, web.signing
        )
    return response


def confirm_page(request: Request, token: str) -> Response:
    web = web_of(request)
    sub = web.subscriber_for("confirm", token)
    if sub.status == Status.UNSUBSCRIBED:
        raise LinkError()
    return web.page(
        request,
        "confirm.html",
        title="Confirm your subscription",
        subscriber=sub,
        csrf=web.form_token(request),
    )


def confirm(request: Request, token: str, form: CheckedForm) -> Response:
    web = web_of(request)
    sub = web.subscriber_for("confirm", token)
    if sub.status == Status.UNSUBSCRIBED:
        raise LinkError()
    rules.confirm(web.store, sub, now=web.clock())
    return RedirectResponse(web.links.path("manage", sub.id), status_code=303)


def unsubscribe_page(request: Request, token: str) -> Response:
    web = web_of(request)
    sub = web.subscriber_for("unsubscribe", token)
    return web.page(
        request,
        "unsubscribe.html",
        title="Unsubscribe",
        subscriber=sub,
        csrf=web.form_token(request),
    )


def unsubscribe(request: Request, token: str, form: CheckedForm) -> Response:
    web = web_of(request)
    sub = web.subscriber_for("unsubscribe", token)
    rules.unsubscribe(web.store, sub, now=web.clock())
    return web.page(request, "unsubscribed.html", title="Unsubscribed", subscriber=sub)
