"""HTTP fetching: timeouts, a clear User-Agent, retries with backoff, conditional GET."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from digest.settings import HttpSettings
from digest.store import Validators


class FetchError(Exception):
    """A URL could not be fetched, even after retries."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    validators: Validators
    content_type: str = ""

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def _retryable(status: int) -> bool:
    return status >= 500 or status == 429


def fetch(
    url: str,
    *,
    http: HttpSettings,
    validators: Validators | None = None,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Response:
    """GET ``url``, sending ``If-None-Match`` / ``If-Modified-Since`` from ``validators``.

    5xx, 429 and transport errors (timeouts, refused connections) are retried
    ``http.retries`` times with exponential backoff; other 4xx fail at once.
    """
    headers = {"User-Agent": http.user_agent, "Accept": "*/*"}
    if validators and validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators and validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified
    own_client = client is None
    session = client or httpx.Client(timeout=http.timeout, follow_redirects=True)
    try:
        return _fetch_with_retries(session, url, headers, http, sleep)
    finally:
        if own_client:
            session.close()


def _fetch_with_retries(
    client: httpx.Client,
    url: str,
    headers: dict[str, str],
    http: HttpSettings,
    sleep: Callable[[float], None],
) -> Response:
    delay = http.backoff
    problem = ""
    for attempt in range(http.retries + 1):
        if attempt:
            sleep(delay)
            delay *= 2
        try:
            answer = client.get(url, headers=headers, timeout=http.timeout)
        except httpx.TimeoutException:
            problem = f"timed out after {http.timeout:g} s"
            continue
        except httpx.TransportError as exc:
            problem = f"connection failed: {exc}"
            continue
        if _retryable(answer.status_code):
            problem = f"HTTP {answer.status_code} {answer.reason_phrase}"
            continue
        if answer.status_code >= 400:
            raise FetchError(f"HTTP {answer.status_code} {answer.reason_phrase}")
        return Response(
            status=answer.status_code,
            body=answer.content,
            validators=Validators(
                etag=answer.headers.get("ETag"),
                last_modified=answer.headers.get("Last-Modified"),
            ),
            content_type=answer.headers.get("Content-Type", ""),
        )
    raise FetchError(f"{problem} (tried {http.retries + 1} times)")
