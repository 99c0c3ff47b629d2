"""The bounce mailbox, read: each message not yet seen, as bytes, then marked seen.

A Maildir is what a mail server delivers the bounce address into (Postfix's
``home_mailbox = Maildir/``, Dovecot's LMTP, or fetchmail): new messages are in
``new/``; a message read is moved to ``cur/`` with the ``S`` (seen) flag, as any
mail client would, so the next reading skips it and a person can still read it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Unread:
    name: str
    data: bytes


class MaildirInbox:
    def __init__(self, path: Path) -> None:
        self.path = path

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
