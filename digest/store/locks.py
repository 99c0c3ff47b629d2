"""Locks that one process at a time holds, for as long as it lives: on PostgreSQL a
session advisory lock (across every machine on the database), on SQLite an ``flock``
on a file beside the database (across the processes of its one machine). Either is
let go by the operating system or the server when its holder dies."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, text

from digest.store.base import StoreBase


def _key(name: str) -> int:
    """A stable signed 64-bit key for ``name``, as advisory locks take."""
    digest = hashlib.blake2b(f"digest.{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Exclusive:
    """One named lock; :meth:`try_acquire` until it says True, then hold it."""

    def __init__(self, store: StoreBase, name: str) -> None:
        self.store = store
        self.name = name
        self._conn: Connection | None = None
        self._file: IO[bytes] | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None or self._file is not None

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; True if this process holds it now."""
        if self.held:
            return True
        engine = self.store.engine
        if engine.dialect.name == "postgresql":
            conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _key(self.name)})
            if got.scalar():
                self._conn = conn
                return True
            conn.close()
            return False
        database = engine.url.database
        if engine.dialect.name != "sqlite" or not database or database == ":memory:":
            raise NotImplementedError(f"no exclusive lock on {engine.dialect.name} {database!r}")
        path = Path(f"{database}.{self.name}.lock")
        handle = path.open("ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _key(self.name)})
            self._conn.close()
            self._conn = None
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class LockStore(StoreBase):
    def exclusive(self, name: str) -> Exclusive:
        """The lock called ``name`` (not yet taken)."""
        return Exclusive(self, name)
