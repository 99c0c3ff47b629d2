"""What every page shares: the :class:`Web` context (settings, store, clock, tokens,
templates), reading link tokens, and the checked form every POST receives."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from jinja2 import Environment
from starlette.responses import HTMLResponse

from digest.day.preview import Recent
from digest.day.shard import MissingSecret, signing_key
from digest.day.vectors import Models
from digest.links import LinkMaker
from digest.models import Subscriber
from digest.render import Renderer, relevance
from digest.score.profile import warm
from digest.settings import Settings
from digest.store import Store
from digest.templating import environment
from digest.tokens import PURPOSES, BadToken, Purpose, Tokens
from digest.web.forms import timezone_names
from digest.web.security import CSRF_COOKIE, CSRF_FIELD, Csrf

Clock = Callable[[], datetime]
MAX_FORM_FIELDS = 400
Form = Mapping[str, list[str]]


class LinkError(Exception):
    """A link token that is forged, damaged, expired, made for another purpose, or
    names a subscriber that no longer exists."""

    def __init__(self, *, expired: bool = False) -> None:
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


class BadForm(Exception):
    """A POST whose CSRF token is missing, forged, expired or made for another page."""


def utcnow() -> datetime:
    """Naive UTC, as stored in the database."""
    return datetime.now(UTC).replace(tzinfo=None)


def template_env(settings: Settings) -> Environment:
    """The one Jinja environment of emails, feeds and pages (see
    :func:`digest.templating.environment`): the operator's templates first, HTML
    autoescaped, plain-text mail not. Pages may say a pick's ``relevance`` in words."""
    env = environment(settings)
    env.globals["relevance"] = relevance
    return env


def secret_of(settings: Settings) -> str:
    if settings.secret_key is None or not settings.secret_key.get_secret_value():
        raise MissingSecret(
            "secret_key is not set, and the web app signs every link with it: run "
            "`digest init` to write one into config/digest.toml, or set DIGEST_SECRET_KEY."
        )
    return settings.secret_key.get_secret_value()


def first(form: Form, name: str) -> str:
    values = form.get(name)
    return values[0] if values else ""


RENDERER_PAPERS = 20_000


class Web:
    """What every handler needs: settings, store, clock, tokens and templates."""

    def __init__(self, settings: Settings, store: Store, clock: Clock) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        secret = secret_of(settings)
        try:
            self.tokens = Tokens(secret)
        except ValueError as exc:
            raise MissingSecret(f"{exc}; `digest init` writes a suitable one") from exc
        self.links = LinkMaker(settings.web.base_url, self.tokens, settings.mail.bounce_address)
        self.signing = signing_key(settings)
        self.csrf = Csrf(secret)
        self.templates = template_env(settings)
        # the text model, read once per version rather than on every save or vote
        self.models = Models(store)
        self.recent = Recent()  # the latest batch's papers, which every preview ranks
        self.secure_cookies = settings.web.base_url.startswith("https://")
        self._renderer: Renderer | None = None

    def warm(self) -> None:
        """Read the stored text model and make what the first page would otherwise
        wait for (about 0.5 s at a 60 MB model); a data dir without a model is fine."""
        found = self.models.current()
        if found is not None:
            warm(found[1])
        self.templates.get_template("web/manage.html")
        timezone_names()

    def renderer(self) -> Renderer:
        """A renderer kept between requests: it keeps each paper's rendered picks,
        which every feed with that paper shares. Made anew once it holds
        ``RENDERER_PAPERS`` papers, so that a long-running server stays bounded."""
        if self._renderer is None or self._renderer.size > RENDERER_PAPERS:
            self._renderer = Renderer(self.settings)
        return self._renderer

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

    def form_token(self, request: Request) -> str:
        """The CSRF token for the form on this page (see :func:`posted`)."""
        return self.csrf.make(csrf_scope(request))


def web_of(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


def csrf_scope(request: Request) -> str:
    """What a page's CSRF token is bound to: its own path, which carries its link
    token, or for the public subscribe form the visitor's form cookie."""
    if request.url.path == "/":
        return subscribe_scope(request.cookies.get(CSRF_COOKIE, ""))
    return request.url.path


def subscribe_scope(cookie: str) -> str:
    return f"subscribe:{cookie}"


@dataclass(frozen=True, slots=True)
class Posted:
    fields: Form

    def __getitem__(self, name: str) -> str:
        return first(self.fields, name)


async def read_form(request: Request) -> dict[str, list[str]]:
    """The posted fields (URL-encoded or multipart, no files), each as a list."""
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    out: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            out.setdefault(key, []).append(value)
    return out


async def posted(request: Request) -> Posted:
    """Every POST's form, its CSRF token checked first (a dependency of every POST
    route). The one exception is RFC 8058's one-click unsubscribe, which mail
    providers send with neither cookies nor form tokens and which only ever stops mail."""
    fields = await read_form(request)
    route = request.scope.get("route")
    name = getattr(route, "name", "")
    if name == "unsubscribe" and first(fields, "List-Unsubscribe") == "One-Click":
        return Posted(fields)
    web = web_of(request)
    if request.url.path == "/" and not request.cookies.get(CSRF_COOKIE):
        raise BadForm()
    if not web.csrf.check(csrf_scope(request), first(fields, CSRF_FIELD)):
        token = request.path_params.get("token")
        if token and name in PURPOSES:
            web.read_token(name, token)  # a dead link says so before a stale form does
        raise BadForm()
    return Posted(fields)


CheckedForm = Annotated[Posted, Depends(posted)]
"""A POST route's form, CSRF checked: ``form: CheckedForm`` in its signature."""
