"""HTTP fetching: timeouts, a clear User-Agent, retries with backoff, conditional GET."""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from digest.settings import HttpSettings
from digest.store import Validators

MAX_DOWNLOAD = 512 * 2**20  # decoded bytes: a gzip bomb in Content-Encoding stops here


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
            with client.stream("GET", url, headers=headers, timeout=http.timeout) as answer:
                if _retryable(answer.status_code):
                    problem = f"HTTP {answer.status_code} {answer.reason_phrase}"
                    continue
                if answer.status_code >= 400:
                    raise FetchError(f"HTTP {answer.status_code} {answer.reason_phrase}")
                body = _read_capped(answer)
        except httpx.TimeoutException:
            problem = f"timed out after {http.timeout:g} s"
            continue
        except httpx.TransportError as exc:
            problem = f"connection failed: {exc}"
            continue
        return Response(
            status=answer.status_code,
            body=body,
            validators=Validators(
                etag=answer.headers.get("ETag"),
                last_modified=answer.headers.get("Last-Modified"),
            ),
            content_type=answer.headers.get("Content-Type", ""),
        )
    raise FetchError(f"{problem} (tried {http.retries + 1} times)")


def _read_capped(answer: httpx.Response) -> bytes:
    """The body, decoded, refused beyond ``MAX_DOWNLOAD`` bytes before it is all in
    memory. gzip and deflate are undone here, a bounded piece at a time: a few
    kilobytes of a gzip bomb would otherwise decode to many megabytes in one step."""
    limit = MAX_DOWNLOAD
    encoding = answer.headers.get("content-encoding", "").strip().lower()
    body = bytearray()

    def add(data: bytes) -> None:
        body.extend(data)
        if len(body) > limit:
            raise FetchError(f"the answer is larger than {limit // 2**20} MiB")

    if encoding not in ("gzip", "x-gzip", "deflate"):
        for chunk in answer.iter_bytes():
            add(chunk)
        return bytes(body)
    decoder = zlib.decompressobj(47)  # a zlib or gzip header, whichever it has
    for raw in answer.iter_raw():
        data = raw
        while data:
            try:
                add(decoder.decompress(data, limit + 1 - len(body)))
            except zlib.error as exc:
                raise FetchError(f"broken {encoding} answer: {exc}") from exc
            data = decoder.unconsumed_tail
            if decoder.eof and decoder.unused_data:  # the next gzip member
                data, decoder = decoder.unused_data, zlib.decompressobj(47)
    add(decoder.flush())
    return bytes(body)
