"""The bounce mailbox, read: each message not yet seen, as bytes, then marked seen.

The mailbox is a Maildir on this machine or a folder on an IMAP server. A Maildir is
what a mail server delivers the bounce address into (Postfix's ``home_mailbox =
Maildir/``, Dovecot's LMTP, or fetchmail): new messages are in ``new/``; a message
read is moved to ``cur/`` with the ``S`` (seen) flag, as any mail client would, so the
next reading skips it and a person can still read it. On IMAP the same is the
``\\Seen`` flag.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from digest.settings import BounceSettings


@dataclass(frozen=True, slots=True)
class Unread:
    name: str
    data: bytes


class Inbox(Protocol):
    def unread(self) -> Iterator[Unread]: ...

    def mark_seen(self, message: Unread) -> None: ...


class MaildirInbox:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> MaildirInbox:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def unread(self) -> Iterator[Unread]:
        """Every message in ``new/``, and in ``cur/`` without the seen flag, oldest
        name first. Raises ``OSError`` when the folder is not a Maildir."""
        for sub in ("new", "cur"):
            if not (self.path / sub).is_dir():
                raise FileNotFoundError(f"{self.path} is not a Maildir (no {sub}/)")
        for sub in ("new", "cur"):
            for name in sorted(os.listdir(self.path / sub)):
                if name.startswith(".") or (sub == "cur" and "S" in _flags(name)):
                    continue
                try:
                    data = (self.path / sub / name).read_bytes()
                except FileNotFoundError:  # taken by a mail client meanwhile
                    continue
                yield Unread(f"{sub}/{name}", data)

    def mark_seen(self, message: Unread) -> None:
        sub, _, name = message.name.partition("/")
        base, _, info = name.partition(":")
        flags = "".join(sorted({*_flags(name), "S"})) if info.startswith("2,") else "S"
        os.replace(self.path / sub / name, self.path / "cur" / f"{base}:2,{flags}")


def _flags(name: str) -> str:
    _, _, info = name.partition(":")
    return info[2:] if info.startswith("2,") else ""


class ImapInbox:
    """The bounce mailbox on an IMAP server: messages without ``\\Seen`` in the
    folder, fetched with ``BODY.PEEK`` (which leaves them unseen) and flagged
    ``\\Seen`` once read. One connection for the whole reading; use as a context
    manager. Raises ``OSError`` (``imaplib``'s errors included) when the server
    cannot be reached or refuses."""

    def __init__(self, settings: BounceSettings, timeout: float = 30.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self._conn: imaplib.IMAP4 | None = None

    def __enter__(self) -> ImapInbox:
        s = self.settings
        assert s.imap_host is not None
        try:
            conn: imaplib.IMAP4
            if s.imap_security == "ssl":
                conn = imaplib.IMAP4_SSL(
                    s.imap_host,
                    s.imap_port or 993,
                    ssl_context=ssl.create_default_context(),
                    timeout=self.timeout,
                )
            else:
                conn = imaplib.IMAP4(s.imap_host, s.imap_port or 143, timeout=self.timeout)
                if s.imap_security == "starttls":
                    conn.starttls(ssl.create_default_context())
            password = s.imap_password.get_secret_value() if s.imap_password else ""
            conn.login(s.imap_username or "", password)
            kind, _ = conn.select(_quoted(s.imap_folder))
            if kind != "OK":
                raise imaplib.IMAP4.error(f"no folder {s.imap_folder}")
        except imaplib.IMAP4.error as exc:
            raise OSError(f"IMAP {s.imap_host}: {exc}") from exc
        self._conn = conn
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                self._conn.logout()
            self._conn = None

    def unread(self) -> Iterator[Unread]:
        conn = self._conn
        assert conn is not None, "use ImapInbox as a context manager"
        try:
            kind, found = conn.uid("SEARCH", "UNSEEN")
            if kind != "OK":
                raise imaplib.IMAP4.error(f"SEARCH answered {kind}")
            for uid in (found[0] or b"").decode().split():
                kind, parts = conn.uid("FETCH", uid, "(BODY.PEEK[])")
                data = next((p[1] for p in parts if isinstance(p, tuple)), None)
                if kind == "OK" and isinstance(data, bytes):
                    yield Unread(uid, data)
        except imaplib.IMAP4.error as exc:
            raise OSError(f"IMAP {self.settings.imap_host}: {exc}") from exc

    def mark_seen(self, message: Unread) -> None:
        assert self._conn is not None
        try:
            self._conn.uid("STORE", message.name, "+FLAGS.SILENT", "(\\Seen)")
        except imaplib.IMAP4.error as exc:
            raise OSError(f"IMAP {self.settings.imap_host}: {exc}") from exc


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
