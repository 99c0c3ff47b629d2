"""Messages and where they go: a Maildir outbox by default, or an SMTP server.

A :class:`Mailer` takes a finished :class:`~digest.mime.Message` and either
delivers it or raises :class:`TemporaryFailure` (try again later: SMTP 4xx, a dropped
connection) or :class:`PermanentFailure` (SMTP 5xx: record the server's reply, move on).
:class:`Unavailable` is a temporary failure that no other message can get past either
(the server cannot be reached, refuses the session, or cannot give the security or the
login the settings ask for): a 5xx there says nothing about a reader.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from digest.mime import Message
from digest.settings import MailSettings, Settings, SmtpSettings

_HOST = socket.gethostname().replace("/", "_").replace(":", "_")


class SendError(Exception):
    """A message was not delivered; ``str(error)`` is the reason (the server's reply)."""


class TemporaryFailure(SendError):
    pass


class PermanentFailure(SendError):
    pass


class Unavailable(TemporaryFailure):
    """No session with the server: every message waits until it can be opened."""


class Mailer(Protocol):
    def send(self, message: Message) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class MaildirMailer:
    """Writes each message into a local Maildir folder (``new/``), atomically, under a
    name made from its Message-ID: delivering a message again replaces the first
    copy, so a rerun after a crash never leaves two. One write and one rename a
    message, whatever the folder holds.

    Each process writes its messages in a folder of its own beside the Maildir
    (``outbox.tmp/<host>.<pid>``, on the same disk) before moving them into ``new/``,
    rather than in the Maildir's shared ``tmp/``: the kernel locks a folder while it
    finds room for each new file, and processes writing one ``tmp/`` at once queued
    on that lock (up to 30 s of CPU time for 100,000 messages on two workers).
    ``tmp/`` is used when the two are on different file systems."""

    idempotent = True
    STALE = 36 * 3600
    """A folder left by a process that died is removed after this long, as the
    Maildir convention has it for files left in ``tmp/``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.beside = path.with_name(path.name + ".tmp")
        self._apart = True  # False once a move from beside failed across file systems

    def __enter__(self) -> Self:
        with contextlib.suppress(OSError):  # each message then says why, and waits
            self._make()
            self._sweep()
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self._beside(), ignore_errors=True)

    def _beside(self) -> Path:
        return self.beside / f"{_HOST}.{os.getpid()}"  # a forked worker gets its own

    def _staging(self) -> Path:
        return self._beside() if self._apart else self.path / "tmp"

    def _make(self) -> None:
        for sub in ("tmp", "new", "cur"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)
        self._staging().mkdir(parents=True, exist_ok=True)

    def _sweep(self) -> None:
        """Folders of processes that died long ago, and what they left."""
        cutoff = time.time() - self.STALE
        for folder in self.beside.iterdir():
            if folder != self._beside() and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)

    def send(self, message: Message) -> None:
        name = _maildir_name(message.message_id)
        # what a delivering server puts first: the envelope sender, where bounces go
        data = b"Return-Path: <%s>\n%s" % (message.sender.encode(), message.as_bytes(linesep=b"\n"))
        try:
            try:
                self._write(name, data)
            except FileNotFoundError:
                self._make()  # a folder was removed under us: make it again, once
                self._write(name, data)
        except OSError as exc:
            raise TemporaryFailure(f"cannot write to {self.path}: {exc}") from exc

    def _write(self, name: str, data: bytes) -> None:
        tmp = self._staging() / name
        with open(tmp, "wb") as out:
            out.write(data)
        try:
            os.replace(tmp, self.path / "new" / name)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            # another file system: the Maildir's own tmp/ from now on
            os.unlink(tmp)
            self._apart = False
            self._write(name, data)


_UNSAFE = re.compile(r"[^A-Za-z0-9._@=+-]")


def _maildir_name(message_id: str) -> str:
    """A file name that is unique per Message-ID and safe in every Maildir reader (no
    slash, no colon)."""
    return _UNSAFE.sub("_", message_id.strip("<>")) + "." + _HOST


class SmtpMailer:
    """One SMTP connection, opened on first use and reused for every message."""

    def __init__(self, smtp: SmtpSettings) -> None:
        self.settings = smtp
        self._conn: smtplib.SMTP | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (smtplib.SMTPException, OSError):
                self._conn.close()
            self._conn = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        conn: smtplib.SMTP | None = None
        try:
            if s.security == "ssl":
                conn = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout, context=ssl.create_default_context()
                )
            else:
                conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
                if s.security == "starttls":
                    conn.ehlo()
                    if not conn.has_extn("starttls"):
                        # never fall back to sending in the clear
                        raise Unavailable(
                            f"SMTP server {s.host}:{s.port} does not offer STARTTLS, "
                            "which smtp.security = starttls requires"
                        )
                    conn.starttls(context=ssl.create_default_context())
            if s.username:
                password = s.password.get_secret_value() if s.password else ""
                conn.login(s.username, password)
        except Unavailable:
            _close(conn)
            raise
        except smtplib.SMTPResponseException as exc:
            _close(conn)
            refused = _failure(exc.smtp_code, exc.smtp_error)
            where = f"SMTP server {s.host}:{s.port}"
            raise Unavailable(f"{where} refused the session: {refused}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            _close(conn)
            reason = str(exc) or type(exc).__name__
            raise Unavailable(f"SMTP server {s.host}:{s.port}: {reason}") from exc
        return conn

    def send(self, message: Message) -> None:
        if self._conn is None:
            self._conn = self._connect()
        try:
            # 8bit bodies need the server's 8BITMIME; without it they go quoted-printable
            self._conn.ehlo_or_helo_if_needed()
            eight_bit = self._conn.has_extn("8bitmime")
            refused = self._conn.sendmail(
                message.sender,
                [message.to],
                message.as_bytes(eight_bit=eight_bit),
                mail_options=["BODY=8BITMIME"] if eight_bit else [],
            )
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            if code == 421:  # smtplib has closed the connection: open a new one next time
                self._drop()
            else:
                self._reset()
            raise _failure(code, reply) from exc
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code in (421,) or isinstance(exc, smtplib.SMTPServerDisconnected):
                self.close()
            else:
                self._reset()
            raise _failure(exc.smtp_code, exc.smtp_error) from exc
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise TemporaryFailure(f"SMTP connection to {self.settings.host}: {exc}") from exc
        if refused:
            code, reply = next(iter(refused.values()))
            raise _failure(code, reply)

    def _reset(self) -> None:
        try:
            if self._conn is not None:
                self._conn.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


def _close(conn: smtplib.SMTP | None) -> None:
    if conn is not None:
        conn.close()


def _failure(code: int, reply: bytes | str) -> SendError:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    cls = TemporaryFailure if 400 <= code < 500 else PermanentFailure
    return cls(f"{code} {text}".strip())


def make_mailer(settings: Settings) -> Mailer:
    if settings.mail.mailer == "smtp":
        return SmtpMailer(settings.smtp)
    return MaildirMailer(settings.data_dir / "outbox")


def destination(settings: Settings) -> str:
    """Where :func:`make_mailer`'s messages go, for people to read."""
    if settings.mail.mailer == "smtp":
        smtp = settings.smtp
        return f"SMTP relay {smtp.host}:{smtp.port} ({smtp.security})"
    return f"Maildir {(settings.data_dir / 'outbox').resolve()}"


def message_id_for(mail: MailSettings, delivery_id: int, day: object) -> str:
    """The stable Message-ID of one ledger row."""
    domain = mail.from_address.rpartition("@")[2] or "localhost"
    return f"<digest.{day}.{delivery_id}@{domain}>"


@dataclass(frozen=True, slots=True)
class Outcome:
    sent: bool
    error: str | None = None
    temporary: bool = False
    attempts: int = 1


def send_with_retry(
    mailer: Mailer,
    message: Message,
    *,
    retries: int,
    backoff: float,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Send, retrying temporary failures with doubling delays; a permanent failure or
    the last temporary one is returned, never raised."""
    delay = backoff
    for attempt in range(1, retries + 2):
        try:
            mailer.send(message)
            return Outcome(sent=True, attempts=attempt)
        except PermanentFailure as exc:
            return Outcome(sent=False, error=str(exc), attempts=attempt)
        except TemporaryFailure as exc:
            if attempt > retries:
                return Outcome(sent=False, error=str(exc), temporary=True, attempts=attempt)
            sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")
