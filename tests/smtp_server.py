"""A real SMTP server (aiosmtpd) on loopback that records what it receives.

Use the ``smtp_server`` fixture; point ``settings.smtp`` at ``.host``/``.port`` with
``security="plain"``. Every accepted message lands in ``.messages`` as an
:class:`email.message.EmailMessage` (parsed with ``email.policy.default``) and its
envelope in ``.envelopes``.

Scripted replies: ``.script`` is a list of reply codes (or whole reply lines) used,
one per message, at the stage named by ``.script_stage`` (``"rcpt"`` by default, or
``"data"``). ``server.script = [451, 250]`` makes the next message get a temporary
refusal and the one after it go through; ``[550]`` refuses the next one for good.
A ``250`` step simply accepts.

Faults for one reader, every time: ``.faults[address] = Fault("data", reply=452)``
refuses every message to that address at that stage; ``Fault("data", drop=True)``
closes the connection instead of answering the end of DATA (the message is lost);
``Fault("data", stall=2.0)`` answers nothing for that long, then closes.
"""

from __future__ import annotations

import asyncio
import email
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from typing import Any, Literal

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

REPLIES = {
    250: "250 OK",
    421: "421 4.3.2 Service not available, closing channel",
    450: "450 4.2.1 Mailbox busy, try again later",
    451: "451 4.3.0 Temporary local problem, try again later",
    452: "452 4.2.2 Insufficient storage",
    550: "550 5.1.1 No such user here",
    552: "552 5.3.4 Message too big",
    554: "554 5.7.1 Rejected",
}


@dataclass(frozen=True, slots=True)
class Envelope:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    mail_options: tuple[str, ...] = ()
    raw: bytes = b""


@dataclass(frozen=True, slots=True)
class Fault:
    stage: Literal["rcpt", "data"]
    reply: int | str | None = None
    drop: bool = False
    stall: float = 0.0

    def line(self) -> str:
        reply = self.reply or 451
        return reply if isinstance(reply, str) else REPLIES.get(reply, f"{reply} scripted reply")


@dataclass
class SmtpServer:
    """What the fixture yields: where the server listens and what it has received."""

    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[Envelope] = field(default_factory=list)
    script: list[int | str] = field(default_factory=list)
    script_stage: Literal["rcpt", "data"] = "rcpt"
    refused: list[str] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)  # time.monotonic(), per message
    # called with the client's (host, port) before a message is taken; a reply it
    # returns is given instead
    on_data: Callable[[tuple[str, int]], str | None] | None = None
    faults: dict[str, Fault] = field(default_factory=dict)
    faulted: list[tuple[str, str]] = field(default_factory=list)  # (address, what happened)
    sessions: int = 0  # connections opened so far
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def next_reply(self, stage: str) -> str | None:
        """The scripted reply for this stage, or None to carry on normally."""
        with self._lock:
            if stage != self.script_stage or not self.script:
                return None
            step = self.script.pop(0)
        reply = step if isinstance(step, str) else REPLIES.get(step, f"{step} scripted reply")
        if reply.startswith("250"):
            return None
        self.refused.append(reply)
        return reply

    def record(
        self, mail_from: str, rcpt_tos: list[str], data: bytes, options: Sequence[str] = ()
    ) -> None:
        message = email.message_from_bytes(data, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.envelopes.append(Envelope(mail_from, tuple(rcpt_tos), tuple(options), data))
            self.messages.append(message)
            self.received_at.append(time.monotonic())

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Block until at least ``count`` messages arrived (mail is often sent after the
        HTTP response); fails the test after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"expected {count} message(s) at the SMTP server, got {len(self.messages)}"
                )
            time.sleep(0.02)
        return list(self.messages)

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
            self.envelopes.clear()
            self.refused.clear()
            self.received_at.clear()


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def _fault(self, stage: str, address: str, protocol: Any) -> str | None:
        """The reply a fault gives, or "" when it closed the connection, or None."""
        fault = self.server.faults.get(address)
        if fault is None or fault.stage != stage:
            return None
        if fault.stall:
            self.server.faulted.append((address, "stall"))
            await asyncio.sleep(fault.stall)
            protocol.transport.close()
            return ""
        if fault.drop:
            self.server.faulted.append((address, "drop"))
            protocol.transport.close()
            return ""
        line = fault.line()
        self.server.faulted.append((address, line))
        return line

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        if session.host_name is None:
            self.server.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        faulted = await self._fault("rcpt", address, server)
        if faulted is not None:
            return faulted or "421 closing"
        reply = self.server.next_reply("rcpt")
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        for address in envelope.rcpt_tos:
            faulted = await self._fault("data", address, server)
            if faulted is not None:
                return faulted or "421 closing"
        if self.server.on_data is not None:
            hooked = self.server.on_data(session.peer)
            if hooked is not None:
                return hooked
        reply = self.server.next_reply("data")
        if reply is not None:
            return reply
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        self.server.record(
            envelope.mail_from, list(envelope.rcpt_tos), data, list(envelope.mail_options)
        )
        return "250 Message accepted for delivery"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    yield from serve(eight_bit=True)


@pytest.fixture
def smtp_server_7bit() -> Iterator[SmtpServer]:
    """A server that does not offer 8BITMIME (it decodes what it gets as ASCII)."""
    yield from serve(eight_bit=False)


@pytest.fixture
def smtp_server_login() -> Iterator[SmtpServer]:
    """A server that wants a login (``LOGIN_USER`` / ``LOGIN_PASSWORD``), in the clear."""
    yield from serve(eight_bit=True, login=(LOGIN_USER, LOGIN_PASSWORD))


LOGIN_USER, LOGIN_PASSWORD = "digest", "right-password"


def _authenticator(user: str, password: str) -> Callable[..., AuthResult]:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            user.encode(),
            password.encode(),
        )
        return AuthResult(success=ok, handled=False)

    return check


def serve(*, eight_bit: bool, login: tuple[str, str] | None = None) -> Iterator[SmtpServer]:
    host = "127.0.0.1"
    server = SmtpServer(host=host, port=_free_port(host))
    extra: dict[str, Any] = {}
    if login is not None:
        extra = {
            "authenticator": _authenticator(*login),
            "auth_require_tls": False,
            "auth_required": True,
        }
    controller = Controller(
        _Handler(server),
        hostname=host,
        port=server.port,
        enable_SMTPUTF8=eight_bit,
        decode_data=not eight_bit,
        **extra,
    )
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
