"""CSRF tokens, security headers and a cap on request bodies.

A CSRF token is signed with the installation's secret under its own salt and bound to
a *scope*: the path of the page that rendered the form (which carries the page's own
link token), or for the public subscribe form a random value kept in a cookie. A token
taken from one page is therefore useless on another, and an attacker's page cannot
produce one for a victim's browser.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from itsdangerous import BadSignature, TimestampSigner
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_FIELD = "csrf"
CSRF_COOKIE = "digest_form"
CSRF_MAX_AGE = 7 * 86400
MAX_BODY = 256 * 1024


def _scope_digest(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:32]


class Csrf:
    def __init__(self, secret: str, *, max_age: int = CSRF_MAX_AGE) -> None:
        self._signer = TimestampSigner(secret, salt="digest.csrf", digest_method=hashlib.sha256)
        self.max_age = max_age

    def make(self, scope: str) -> str:
        return self._signer.sign(_scope_digest(scope)).decode()

    def check(self, scope: str, token: str | None) -> bool:
        if not token or len(token) > 200:
            return False
        try:
            value = self._signer.unsign(token, max_age=self.max_age).decode()
        except (BadSignature, UnicodeDecodeError):
            return False
        return hmac.compare_digest(value, _scope_digest(scope))


def new_form_cookie() -> str:
    return secrets.token_urlsafe(18)


def content_security_policy(nonce: str) -> str:
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'nonce-{nonce}'",
            "style-src 'self'",
            "img-src 'self' data:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


ARCHIVE_POLICY = "; ".join(
    (
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        "img-src https: data:",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
"""Sent digests are email HTML: inline styles, no scripts."""


class BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(413, "The form is too large.")


class SecurityMiddleware:
    """Adds the security headers to every response (a page may set its own
    Content-Security-Policy) and refuses request bodies over ``max_body`` bytes.

    Each request gets a fresh CSP nonce in ``request.state.csp_nonce`` for the one
    inline script (filling in the browser's time zone)."""

    def __init__(self, app: ASGIApp, *, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})["csp_nonce"] = nonce
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge()
            return message

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = {
                    b"content-security-policy": content_security_policy(nonce).encode(),
                    b"x-frame-options": b"DENY",
                    b"x-content-type-options": b"nosniff",
                    b"referrer-policy": b"no-referrer",
                }
                headers.extend((k, v) for k, v in extra.items() if k not in present)
                headers = [(k, _on_site(v) if k.lower() == b"location" else v) for k, v in headers]
                message = {**message, "headers": headers}
            await send(message)

        if _declared_length(scope) > self.max_body:
            await _plain(send_with_headers, 413, b"Request body too large.")
            return
        await self.app(scope, limited_receive, send_with_headers)


def _declared_length(scope: Scope) -> int:
    for name, value in scope.get("headers", []):
        if name == b"content-length" and value.isdigit():
            # more digits than any body could have: too large, without int() of it all
            return int(value) if len(value) <= 18 else 2**63
    return 0


def _on_site(location: bytes) -> bytes:
    """A redirect as a path on this site. Starlette writes the redirect to a URL's
    slash-less form with the request's Host header, which a client can set to any
    site; the path alone always stays here."""
    parts = urlsplit(location.decode("latin-1"))
    if not parts.scheme and not parts.netloc:
        return location
    path = "/" + parts.path.lstrip("/\\")
    return (path + (f"?{parts.query}" if parts.query else "")).encode("latin-1")


async def _plain(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
