"""The subscribers' web app: subscribe, confirm, manage profiles, feedback, unsubscribe,
the personal RSS feed and the archive of sent digests.

Every page that acts on a subscriber is reached through a signed link token (see
:mod:`digest.links` for the URL layout). A GET never changes anything: each action is a
POST from a button, protected by a CSRF token, except the RFC 8058 one-click
unsubscribe that mail providers send without cookies or form tokens. A bad, expired or
wrong-purpose token gets a plain "this link is not valid" page, never a traceback.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.exc import IntegrityError
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response

from digest import accounts
from digest.day import feeds, vectors
from digest.day import preview as previews
from digest.day.shard import MissingSecret, open_store
from digest.links import LinkMaker
from digest.models import DigestSection, Profile, Subscriber
from digest.render import Renderer
from digest.resources import shipped
from digest.settings import Settings
from digest.store import Store
from digest.tokens import BadToken, Purpose, Tokens
from digest.web import forms
from digest.web.mail import LinkMail, claim_send, send_link_mail
from digest.web.security import (
    ARCHIVE_POLICY,
    CSRF_COOKIE,
    CSRF_FIELD,
    Csrf,
    SecurityMiddleware,
    new_form_cookie,
)

log = logging.getLogger("digest.web")

Clock = Callable[[], datetime]
PREVIEW_PAPERS = 10
MAX_FORM_FIELDS = 400
RSS = "application/rss+xml; charset=utf-8"
BLANK_SUBSCRIBE = {"email": "", "interests": "", "send_hour": "7", "timezone": ""}


class LinkError(Exception):
    """A link token that is forged, damaged, expired, made for another purpose, or
    names a subscriber that no longer exists."""

    def __init__(self, *, expired: bool = False) -> None:
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


def utcnow() -> datetime:
    """Naive UTC, as stored in the database."""
    return datetime.now(UTC).replace(tzinfo=None)


def template_env(settings: Settings) -> Environment:
    """The operator's ``templates_dir`` first, then the shipped templates. HTML is
    autoescaped; only the plain-text mail templates (``.txt``) are not."""
    folders: list[Path] = [p for p in (settings.templates_dir,) if p is not None]
    folders.append(shipped("templates"))
    return Environment(
        loader=ChoiceLoader([FileSystemLoader(str(f)) for f in folders]),
        autoescape=lambda name: name is None or not name.endswith(".txt"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _secret(settings: Settings) -> str:
    if settings.secret_key is None or not settings.secret_key.get_secret_value():
        raise MissingSecret(
            "secret_key is not set, and the web app signs every link with it: run "
            "`digest init` to write one into config/digest.toml, or set DIGEST_SECRET_KEY."
        )
    return settings.secret_key.get_secret_value()


async def read_form(request: Request) -> dict[str, list[str]]:
    """The posted fields (URL-encoded or multipart, no files), each as a list."""
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    out: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            out.setdefault(key, []).append(value)
    return out


def _first(form: Mapping[str, list[str]], name: str) -> str:
    values = form.get(name)
    return values[0] if values else ""


@dataclass(frozen=True, slots=True)
class Feedback:
    subscriber: Subscriber
    vote: str
    profile: str
    paper_id: str


class Web:
    """What every handler needs: settings, store, clock, tokens and templates."""

    def __init__(self, settings: Settings, store: Store, clock: Clock) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        secret = _secret(settings)
        try:
            self.tokens = Tokens(secret)
        except ValueError as exc:
            raise MissingSecret(f"{exc}; `digest init` writes a suitable one") from exc
        self.links = LinkMaker(settings.web.base_url, self.tokens)
        self.csrf = Csrf(secret)
        self.templates = template_env(settings)
        self.secure_cookies = settings.web.base_url.startswith("https://")

    # rendering ---------------------------------------------------------------

    def page(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("title", "")
        html = self.templates.get_template(f"web/{name}").render(
            nonce=getattr(request.state, "csp_nonce", ""),
            site_name=self.settings.mail.from_name,
            **context,
        )
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})

    def message(
        self, request: Request, title: str, text: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        return self.page(request, "message.html", status, title=title, text=text, **context)

    def bad_form(self, request: Request) -> HTMLResponse:
        return self.message(
            request,
            "This form has expired",
            "The form was too old or did not come from this site, so nothing was changed. "
            "Go back, reload the page and try again.",
            status=400,
        )

    # tokens ------------------------------------------------------------------

    def read_token(self, purpose: Purpose, token: str, size: int = 1) -> tuple[int, ...]:
        max_age = {
            "confirm": self.settings.web.confirm_max_age,
            "manage": self.settings.web.manage_max_age,
            "feedback": self.settings.web.feedback_max_age,
        }.get(purpose)
        try:
            subject = self.tokens.read(purpose, token, max_age=max_age)
        except BadToken as exc:
            expired = max_age is not None and self._authentic(purpose, token)
            raise LinkError(expired=expired) from exc
        if len(subject) != size:
            raise LinkError()
        return subject

    def _authentic(self, purpose: Purpose, token: str) -> bool:
        try:
            self.tokens.read(purpose, token)
        except BadToken:
            return False
        return True

    def subscriber_for(self, purpose: Purpose, token: str) -> Subscriber:
        (sid,) = self.read_token(purpose, token)
        sub = self.store.subscriber(sid)
        if sub is None:
            raise LinkError()
        return sub

    def manage_path(self, subscriber_id: int) -> str:
        return f"/m/{self.tokens.make('manage', subscriber_id)}"

    # subscribe ---------------------------------------------------------------

    def subscribe_page(
        self,
        request: Request,
        cookie: str,
        *,
        values: Mapping[str, str] | None = None,
        errors: Mapping[str, str] | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        return self.page(
            request,
            "subscribe.html",
            status,
            title="Subscribe",
            csrf=self.csrf.make(f"subscribe:{cookie}"),
            values={**BLANK_SUBSCRIBE, **(values or {})},
            errors=errors or {},
            hours=range(24),
        )

    def subscribe(self, request: Request, sub_form: forms.Subscription) -> HTMLResponse:
        """Create or find the subscriber; mail a link if the rate limit allows. The
        page is the same whatever the address's state, so it reveals nothing."""
        now = self.clock()
        sub = self.store.subscriber(sub_form.email)
        if sub is None:
            try:
                sub = self.store.add_subscriber(
                    sub_form.email,
                    now=now,
                    status="pending",
                    send_hour=sub_form.send_hour,
                    timezone=sub_form.timezone,
                )
            except IntegrityError:
                sub = self.store.subscriber(sub_form.email)
                assert sub is not None
        elif sub.status == "unsubscribed":
            sub = self.store.update_subscriber(sub.id, status="pending")
        if sub.status != "active" and not self.store.profiles(sub.id):
            self.store.save_profiles(sub.id, [sub_form.profile], now=now)
        response = self.page(
            request, "check_inbox.html", title="Check your inbox", email=sub_form.email
        )
        if claim_send(self.store, sub.id, now=now):
            if sub.status == "active":
                mail = LinkMail("manage", sub.email, self.links.manage(sub.id))
            else:
                mail = LinkMail("confirm", sub.email, self.links.confirm(sub.id))
            response.background = BackgroundTask(
                send_link_mail, self.settings, self.templates, mail
            )
        return response

    # manage ------------------------------------------------------------------

    def resolve_seeds(self, ids: list[str]) -> tuple[list[str], list[str]]:
        known = self.store.get_papers(ids)
        unknown = [i for i in ids if i not in known]
        if not unknown:
            return ids, []
        found, missing = accounts.resolve_seed_ids(
            self.store, self.settings, unknown, now=self.clock()
        )
        return [*known, *found], missing

    def preview(
        self, sub: Subscriber, profiles: list[Profile]
    ) -> tuple[list[DigestSection] | None, str | None]:
        try:
            sections = previews.preview_sections(
                self.store, self.settings, sub.id, profiles, now=self.clock()
            )
        except Exception:
            log.exception("preview failed for subscriber %s", sub.id)
            return None, "The preview could not be made just now; saving still works."
        return list(sections), None

    def manage_page(
        self,
        request: Request,
        token: str,
        sub: Subscriber,
        form: forms.ManageForm,
        *,
        preview_profiles: list[Profile] | None,
        status: int = 200,
        notice: str = "",
        unsaved: bool = False,
    ) -> HTMLResponse:
        sections, preview_error = (None, None)
        if preview_profiles is not None:
            sections, preview_error = self.preview(sub, preview_profiles)
        return self.page(
            request,
            "manage.html",
            status,
            title="Your digest",
            subscriber=sub,
            form=form,
            errors=form.errors,
            csrf=self.csrf.make(f"/m/{token}"),
            sections=sections,
            preview_error=preview_error,
            preview_papers=PREVIEW_PAPERS,
            unsaved=unsaved,
            notice=notice,
            feed_url=self.links.feed(sub.id),
            unsubscribe_url=f"/u/{self.tokens.make('unsubscribe', sub.id)}",
            hours=range(24),
            weekdays=forms.WEEKDAYS,
            timezones=forms.timezone_names(),
        )

    def stored_form(self, sub: Subscriber) -> tuple[forms.ManageForm, list[Profile]]:
        profiles = self.store.profiles(sub.id)
        form = forms.manage_form(
            profiles,
            send_hour=sub.send_hour,
            timezone=sub.timezone,
            cadence=sub.cadence,
            weekdays=sub.weekdays,
            channels=sub.channels,
        )
        return form, profiles

    def manage_post(
        self, request: Request, token: str, sub: Subscriber, posted: Mapping[str, list[str]]
    ) -> Response:
        stored = self.store.profiles(sub.id)
        form = forms.read_manage_form(posted, stored)
        result = forms.validate_manage(form, stored, self.resolve_seeds)
        if len(form.profiles) < forms.MAX_PROFILES + 1 and not (
            form.profiles and form.profiles[-1].blank
        ):
            form.profiles.append(forms.ProfileFields())
        if result is None:
            return self.manage_page(
                request, token, sub, form, preview_profiles=None, status=400, unsaved=True
            )
        if _first(posted, "action") == "preview":
            return self.manage_page(
                request, token, sub, form, preview_profiles=result.profiles, unsaved=True
            )
        self.store.save_profiles(
            sub.id, result.profiles, now=self.clock(), subscriber_fields=result.subscriber_fields
        )
        vectors.refresh(self.store, [sub.id])
        return RedirectResponse(f"/m/{token}?saved=1", status_code=303)

    def renew_manage_link(self, request: Request, token: str) -> HTMLResponse:
        """An expired but genuine manage link: mail a fresh one to the subscriber's own
        address (rate limited), whatever happens show the same page."""
        (sid,) = self.tokens.read("manage", token)
        sub = self.store.subscriber(sid)
        response = self.message(
            request,
            "A fresh link is on its way",
            "If this address is still subscribed, a message with a new link to your "
            "settings will arrive in a few minutes.",
        )
        if (
            sub is not None
            and sub.status == "active"
            and claim_send(self.store, sub.id, now=self.clock())
        ):
            mail = LinkMail("manage", sub.email, self.links.manage(sub.id))
            response.background = BackgroundTask(
                send_link_mail, self.settings, self.templates, mail
            )
        return response

    # feedback ----------------------------------------------------------------

    def feedback_target(self, request: Request, token: str, vote: str) -> Feedback:
        """The profile and paper come from the raw path: both are percent-encoded and
        either may contain ``/`` (``astro-ph/0601001``), and only the paper id is last."""
        if vote not in ("up", "down"):
            raise HTTPException(404)
        sub = self.subscriber_for("feedback", token)
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
        return Feedback(sub, vote, profile, paper_id)

    def check_received(self, target: Feedback) -> None:
        """Feedback links are only made for papers in the reader's digests; any other
        paper id is a link we never gave out."""
        if not self.store.received(target.subscriber.id, target.paper_id):
            raise LinkError()

    def feedback_context(self, target: Feedback) -> dict[str, Any]:
        paper = self.store.get_papers([target.paper_id]).get(target.paper_id)
        return {
            "vote": target.vote,
            "profile": target.profile,
            "paper_id": target.paper_id,
            "paper": paper,
            "manage_path": self.manage_path(target.subscriber.id),
        }

    def has_profile(self, target: Feedback) -> bool:
        return any(p.name == target.profile for p in self.store.profiles(target.subscriber.id))

    # feed --------------------------------------------------------------------

    def feed(self, request: Request, token: str) -> Response:
        """The reader's last digests as the day wrote them (one fragment each), with
        validators from their sizes and times: a conditional GET is answered without
        reading them, let alone rendering. Only a reader with no fragment (digests
        recorded by an older version) has the feed rendered from the ledger."""
        sub = self.subscriber_for("feed", token)
        if sub.status == "unsubscribed":
            return Response(status_code=410)
        stored = feeds.stored_feed(self.settings, self.links, sub.id)
        body: bytes | None = None
        modified: datetime | None
        if stored is not None:
            etag, modified = stored.etag, stored.modified
        else:
            body, modified = feeds.feed_xml(self.store, self.settings, sub, links=self.links)
            etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
        headers = {"ETag": etag, "Cache-Control": "private, max-age=900"}
        if modified is not None:
            if modified.tzinfo is None:
                modified = modified.replace(tzinfo=UTC)
            headers["Last-Modified"] = format_datetime(modified.astimezone(UTC), usegmt=True)
        if _not_modified(request, headers["ETag"], modified):
            return Response(status_code=304, headers=headers)
        if body is None:
            assert stored is not None
            body = stored.xml(Renderer(self.settings), self.settings, self.links, sub)
        return Response(body, media_type=RSS, headers=headers)


def _not_modified(request: Request, etag: str, modified: datetime | None) -> bool:
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


def create_app(
    settings: Settings, *, store: Store | None = None, clock: Clock | None = None
) -> FastAPI:
    """The web app. Opens (and on shutdown closes) its own store unless given one."""
    _secret(settings)
    own_store = store is None
    web = Web(settings, store or open_store(settings), clock or utcnow)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if own_store:
            web.store.close()

    app = FastAPI(
        title="digest", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.add_middleware(SecurityMiddleware)
    app.state.web = web
    _add_error_pages(app, web)
    _add_routes(app, web)
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
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, bad_request)
    app.add_exception_handler(Exception, server_error)


def _add_routes(app: FastAPI, web: Web) -> None:
    @app.get("/static/style.css", include_in_schema=False)
    def stylesheet() -> Response:
        assert web.templates.loader is not None
        css, _, _ = web.templates.loader.get_source(web.templates, "web/style.css")
        return Response(
            css, media_type="text/css; charset=utf-8", headers={"Cache-Control": "max-age=3600"}
        )

    @app.get("/")
    def subscribe_form(request: Request) -> Response:
        cookie = request.cookies.get(CSRF_COOKIE) or new_form_cookie()
        response = web.subscribe_page(request, cookie)
        response.set_cookie(
            CSRF_COOKIE,
            cookie,
            max_age=web.csrf.max_age,
            httponly=True,
            samesite="lax",
            secure=web.secure_cookies,
        )
        return response

    @app.post("/")
    async def subscribe(request: Request) -> Response:
        posted = await read_form(request)
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if not cookie or not web.csrf.check(f"subscribe:{cookie}", _first(posted, CSRF_FIELD)):
            return web.bad_form(request)
        parsed, errors = forms.parse_subscribe(posted)
        if parsed is None:
            return web.subscribe_page(
                request,
                cookie,
                values=forms.subscribe_values(posted),
                errors=errors,
                status=400,
            )
        return await run_in_threadpool(web.subscribe, request, parsed)

    @app.get("/c/{token}")
    def confirm_page(request: Request, token: str) -> Response:
        sub = web.subscriber_for("confirm", token)
        if sub.status == "unsubscribed":
            raise LinkError()
        return web.page(
            request,
            "confirm.html",
            title="Confirm your subscription",
            subscriber=sub,
            csrf=web.csrf.make(request.url.path),
        )

    @app.post("/c/{token}")
    async def confirm(request: Request, token: str) -> Response:
        posted = await read_form(request)
        sub = web.subscriber_for("confirm", token)
        if not web.csrf.check(request.url.path, _first(posted, CSRF_FIELD)):
            return web.bad_form(request)
        if sub.status == "unsubscribed":
            raise LinkError()
        if sub.status == "pending":
            web.store.update_subscriber(sub.id, status="active", confirmed_at=web.clock())
        return RedirectResponse(web.manage_path(sub.id), status_code=303)

    @app.get("/m/{token}")
    def manage(request: Request, token: str, saved: str = "") -> Response:
        try:
            sub = web.subscriber_for("manage", token)
        except LinkError as exc:
            if not exc.expired:
                raise
            return web.page(
                request,
                "manage_expired.html",
                404,
                title="This link has expired",
                csrf=web.csrf.make(request.url.path),
            )
        form, profiles = web.stored_form(sub)
        return web.manage_page(
            request,
            token,
            sub,
            form,
            preview_profiles=profiles,
            notice="Saved." if saved else "",
        )

    @app.post("/m/{token}")
    async def manage_save(request: Request, token: str) -> Response:
        posted = await read_form(request)
        csrf_ok = web.csrf.check(request.url.path, _first(posted, CSRF_FIELD))
        try:
            sub = web.subscriber_for("manage", token)
        except LinkError as exc:
            if exc.expired and csrf_ok and _first(posted, "action") == "renew":
                return await run_in_threadpool(web.renew_manage_link, request, token)
            raise
        if not csrf_ok:
            return web.bad_form(request)
        return await run_in_threadpool(web.manage_post, request, token, sub, posted)

    @app.get("/u/{token}")
    def unsubscribe_page(request: Request, token: str) -> Response:
        sub = web.subscriber_for("unsubscribe", token)
        return web.page(
            request,
            "unsubscribe.html",
            title="Unsubscribe",
            subscriber=sub,
            csrf=web.csrf.make(request.url.path),
        )

    @app.post("/u/{token}")
    async def unsubscribe(request: Request, token: str) -> Response:
        posted = await read_form(request)
        sub = web.subscriber_for("unsubscribe", token)
        one_click = _first(posted, "List-Unsubscribe") == "One-Click"
        if not one_click and not web.csrf.check(request.url.path, _first(posted, CSRF_FIELD)):
            return web.bad_form(request)
        if sub.status != "unsubscribed":
            web.store.update_subscriber(sub.id, status="unsubscribed", unsubscribed_at=web.clock())
        return web.page(request, "unsubscribed.html", title="Unsubscribed", subscriber=sub)

    @app.api_route("/f/{token}.rss", methods=["GET", "HEAD"])
    def feed(request: Request, token: str) -> Response:
        return web.feed(request, token)

    @app.get("/a/{token}")
    def archive(request: Request, token: str) -> Response:
        sid, delivery_id = web.read_token("archive", token, size=2)
        html = previews.archive_html(web.store, web.settings, sid, delivery_id)
        if html is None:
            raise LinkError()
        return HTMLResponse(
            html,
            headers={"Content-Security-Policy": ARCHIVE_POLICY, "Cache-Control": "private"},
        )

    @app.get("/fb/{token}/{vote}/{rest:path}")
    def feedback_page(request: Request, token: str, vote: str, rest: str) -> Response:
        target = web.feedback_target(request, token, vote)
        web.check_received(target)
        if not web.has_profile(target):
            return web.message(
                request,
                "This profile is gone",
                f"You no longer have a profile called “{target.profile}”.",
                status=404,
            )
        return web.page(
            request,
            "feedback.html",
            title="Feedback",
            csrf=web.csrf.make(request.url.path),
            **web.feedback_context(target),
        )

    @app.post("/fb/{token}/{vote}/{rest:path}")
    async def feedback(request: Request, token: str, vote: str, rest: str) -> Response:
        posted = await read_form(request)
        target = web.feedback_target(request, token, vote)
        if not web.csrf.check(request.url.path, _first(posted, CSRF_FIELD)):
            return web.bad_form(request)
        web.check_received(target)
        recorded = web.store.record_feedback(
            target.subscriber.id, target.profile, target.paper_id, vote, now=web.clock()
        )
        if recorded:
            vectors.refresh(web.store, [target.subscriber.id])
        if not recorded:
            return web.message(
                request,
                "This profile is gone",
                f"You no longer have a profile called “{target.profile}”.",
                status=404,
            )
        return web.page(
            request, "feedback_done.html", title="Thank you", **web.feedback_context(target)
        )
