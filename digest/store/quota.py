"""Sending quotas that every worker draws on together: per key (the relay, a
receiving domain), how many messages went in the current time window."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import case
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from digest.store.base import StoreBase
from digest.tables import send_quota


class QuotaStore(StoreBase):
    def take_quota(self, limits: Sequence[tuple[str, int]], *, window: datetime) -> str | None:
        """Count one message against each (key, limit) in ``window`` (its start), all
        or none, in one transaction. Returns None when it was counted, or the first
        key whose limit the window has reached (nothing counted)."""
        insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        with self.engine.connect() as conn:
            for key, limit in limits:
                row = insert(send_quota).values(key=key, window=window, used=1)
                fresh = send_quota.c.window != row.excluded.window
                statement = row.on_conflict_do_update(
                    index_elements=["key"],
                    set_={
                        "window": row.excluded.window,
                        "used": case((fresh, 1), else_=send_quota.c.used + 1),
                    },
                    where=fresh | (send_quota.c.used < limit),
                ).returning(send_quota.c.used)
                if conn.execute(statement).first() is None:
                    conn.rollback()
                    return key
            conn.commit()
        return None
