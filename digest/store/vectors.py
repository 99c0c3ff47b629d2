"""The text model, the embeddings made with it, and each profile's cached vectors.

The model is one blob; its version is the time it was stored. Embeddings (of batch
papers and of the seed papers profiles point at) and profile vectors carry the
version they were made with, so a refit makes them stale rather than wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, or_, select, update

from digest.models import Status
from digest.store.base import StoreBase
from digest.tables import blobs, embeddings, profiles, subscribers

MODEL_KEY = "textmodel"
VERSION_KEY = "textmodel.version"
"""A small row beside the model's that says its version: the model row's own time
sits behind its data, which SQLite reads through page by page (14 ms a look-up at
60 MB), and every page load and shard asks for the version."""
_CHUNK = 900


class VectorStore(StoreBase):
    def put_model(self, data: bytes, *, now: datetime) -> str:
        """Store a newly fitted text model; returns its version."""
        with self.engine.begin() as conn:
            conn.execute(delete(blobs).where(blobs.c.key.in_([MODEL_KEY, VERSION_KEY])))
            conn.execute(
                blobs.insert(),
                [
                    {"key": MODEL_KEY, "data": data, "updated_at": now},
                    {"key": VERSION_KEY, "data": b"", "updated_at": now},
                ],
            )
            # embeddings of an older model can never be read again
            conn.execute(delete(embeddings))
        return _version(now)

    def model(self) -> tuple[str, bytes] | None:
        """The stored text model (version, bytes), or None before the first fit."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(blobs.c.updated_at, blobs.c.data).where(blobs.c.key == MODEL_KEY)
            ).first()
        return (_version(row[0]), bytes(row[1])) if row else None

    def model_version(self) -> str | None:
        with self.engine.connect() as conn:
            when = conn.execute(
                select(blobs.c.updated_at).where(blobs.c.key == VERSION_KEY)
            ).scalar()
            if when is None:  # stored before the version had a row of its own
                when = conn.execute(
                    select(blobs.c.updated_at).where(blobs.c.key == MODEL_KEY)
                ).scalar()
        return _version(when) if when is not None else None

    def put_embeddings(self, model: str, rows: Sequence[tuple[str, str, bytes]]) -> None:
        """Store (key, title, vector bytes) made with ``model``, replacing older ones."""
        if not rows:
            return
        keys = [k for k, _, _ in rows]
        with self.engine.begin() as conn:
            for start in range(0, len(keys), _CHUNK):
                conn.execute(
                    delete(embeddings).where(embeddings.c.key.in_(keys[start : start + _CHUNK]))
                )
            conn.execute(
                embeddings.insert(),
                [{"key": k, "model": model, "title": t, "vector": v} for k, t, v in rows],
            )

    def embeddings(self, model: str, keys: Iterable[str]) -> dict[str, tuple[str, bytes]]:
        """(title, vector bytes) by key, for the keys stored with ``model``."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, tuple[str, bytes]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), _CHUNK):
                query = select(embeddings.c.key, embeddings.c.title, embeddings.c.vector).where(
                    embeddings.c.key.in_(wanted[start : start + _CHUNK]),
                    embeddings.c.model == model,
                )
                for key, title, vector in conn.execute(query):
                    found[key] = (title, bytes(vector))
        return found

    def profile_rows(
        self, subscriber_ids: Iterable[int] | None = None
    ) -> dict[int, list[tuple[int, dict[str, Any], bytes | None, str | None]]]:
        """Each subscriber's profiles in saved order, as (profile row id, stored data,
        cached vector or None, the model it was made with); every active subscriber's
        when ``subscriber_ids`` is None."""
        columns = (
            profiles.c.subscriber_id,
            profiles.c.id,
            profiles.c.data,
            profiles.c.vector,
            profiles.c.vector_model,
        )
        order = (profiles.c.subscriber_id, profiles.c.position)
        found: dict[int, list[tuple[int, dict[str, Any], bytes | None, str | None]]] = {}
        with self.engine.connect() as conn:
            if subscriber_ids is None:
                query = (
                    select(*columns)
                    .join(subscribers, subscribers.c.id == profiles.c.subscriber_id)
                    .where(subscribers.c.status == Status.ACTIVE)
                    .order_by(*order)
                )
                chunks: Iterable[Any] = [conn.execute(query)]
            else:
                wanted = list(subscriber_ids)
                chunks = (
                    conn.execute(
                        select(*columns)
                        .where(profiles.c.subscriber_id.in_(wanted[start : start + _CHUNK]))
                        .order_by(*order)
                    )
                    for start in range(0, len(wanted), _CHUNK)
                )
            for result in chunks:
                for sid, pid, data, vector, model in result:
                    found.setdefault(sid, []).append(
                        (pid, data, bytes(vector) if vector is not None else None, model)
                    )
        return found

    def put_profile_vectors(self, model: str, rows: Sequence[tuple[int, bytes]]) -> None:
        """Cache (profile row id, vector bytes) made with ``model``."""
        if not rows:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(profiles)
                .where(profiles.c.id == bindparam("pid"))
                .values(vector=bindparam("blob"), vector_model=model),
                [{"pid": pid, "blob": blob} for pid, blob in rows],
            )

    def stale_profiles(self, model: str, subscriber_ids: Iterable[int] | None = None) -> list[int]:
        """Subscribers (active ones, or of ``subscriber_ids``) with a profile whose
        cached vector is missing or was made with another model."""
        stale = or_(profiles.c.vector_model.is_(None), profiles.c.vector_model != model)
        found: set[int] = set()
        with self.engine.connect() as conn:
            if subscriber_ids is None:
                query = (
                    select(profiles.c.subscriber_id)
                    .join(subscribers, subscribers.c.id == profiles.c.subscriber_id)
                    .where(subscribers.c.status == Status.ACTIVE, stale)
                )
                found.update(conn.execute(query).scalars())
            else:
                wanted = list(subscriber_ids)
                for start in range(0, len(wanted), _CHUNK):
                    query = select(profiles.c.subscriber_id).where(
                        profiles.c.subscriber_id.in_(wanted[start : start + _CHUNK]), stale
                    )
                    found.update(conn.execute(query).scalars())
        return sorted(found)

    # blobs -------------------------------------------------------------------

    def put_blob(self, key: str, data: bytes, *, now: datetime) -> None:
        with self.engine.begin() as conn:
            done = conn.execute(
                update(blobs).where(blobs.c.key == key).values(data=data, updated_at=now)
            )
            if done.rowcount == 0:
                conn.execute(blobs.insert().values(key=key, data=data, updated_at=now))

    def get_blob(self, key: str) -> bytes | None:
        with self.engine.connect() as conn:
            value = conn.execute(select(blobs.c.data).where(blobs.c.key == key)).scalar()
        return bytes(value) if value is not None else None


def _version(when: datetime) -> str:
    return when.strftime("%Y%m%dT%H%M%S%f")
