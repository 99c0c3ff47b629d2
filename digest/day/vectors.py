"""The text model and each profile's vectors, kept in the store and current.

Both are made off the day's path: the model after a collect that grew the corpus by a
quarter (or by ``digest model refit``), a profile's vectors whenever the profile or
its feedback changes (and all of them after a refit). The day only reads them; a
profile whose vectors are missing (saved while there was no model yet) is built where
it is found and counted.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

import numpy as np

from digest.models import Paper, Profile
from digest.score import ProfileVector, Seeds, profile_vectors
from digest.score.textmodel import TextModel
from digest.store import Store
from digest.store.people import stored_profile

MODEL_PAPERS = 40_000
REFIT_GROWTH = 1.25
_BUILD_CHUNK = 50_000  # seeds shared by profiles of one chunk are embedded once


@dataclass(frozen=True, slots=True)
class CachedProfile:
    """One profile as the day scores it: its vector (``seed_rows`` index
    ``seed_keys``, embeddings in the store) and the papers it names, which it is
    never sent, except for a new version of one it ``follows`` (a seed or a like)."""

    vector: ProfileVector
    seed_keys: tuple[str, ...]
    referenced: frozenset[str]
    follows: frozenset[str] = frozenset()

    def to_bytes(self) -> bytes:
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def from_bytes(data: bytes) -> CachedProfile | None:
        try:
            found = pickle.loads(data)
        except Exception:  # an older layout: rebuilt like a missing one
            return None
        if not isinstance(found, CachedProfile):
            return None
        try:
            # absent from layouts that predate them
            found.follows  # noqa: B018
            found.vector.cutoff  # noqa: B018
            found.vector.labels  # noqa: B018
        except AttributeError:
            return None
        return found


class Models:
    """The stored text model, read once per process and version."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._loaded: tuple[str, TextModel] | None = None

    def current(self) -> tuple[str, TextModel] | None:
        version = self.store.model_version()
        if version is None:
            return None
        if self._loaded is None or self._loaded[0] != version:
            found = self.store.model()
            if found is None:
                return None
            try:
                self._loaded = (found[0], TextModel.from_bytes(found[1]))
            except (TypeError, ValueError, EOFError, pickle.UnpicklingError, AttributeError):
                return None
        return self._loaded


def refit(store: Store, *, now: datetime, force: bool = False) -> str | None:
    """Fit the text model on the newest papers when there is none, when the stored one
    cannot be read, when the corpus has grown by a quarter since, or when ``force``;
    then rebuild every profile's vectors. Returns the new version, or None if the
    stored model is still good (or there are no papers)."""
    count = store.count_papers()
    if count == 0:
        return None
    if not force:
        current = Models(store).current()
        if current is not None and count <= current[1].fitted_on * REFIT_GROWTH:
            return None
    papers = store.recent_papers(MODEL_PAPERS)
    model, vectors = TextModel.fit_embed(papers)
    version = store.put_model(model.to_bytes(), now=now)
    # kept so that seed papers among them are never embedded again
    store.put_embeddings(
        version, [(f"p:{p.id}", p.title, vectors[i].tobytes()) for i, p in enumerate(papers)]
    )
    build_profiles(store, version, model, store.stale_profiles(version))
    return version


def ensure_model(store: Store, *, now: datetime) -> tuple[str, TextModel] | None:
    models = Models(store)
    found = models.current()
    if found is None and refit(store, now=now, force=True) is not None:
        found = models.current()
    return found


def refresh(store: Store, subscriber_ids: Iterable[int], *, models: Models | None = None) -> int:
    """Rebuild the vectors of these subscribers' profiles if a model exists (after a
    profile or its feedback changed). Returns how many subscribers were rebuilt."""
    found = (models or Models(store)).current()
    if found is None:
        return 0
    version, model = found
    return build_profiles(store, version, model, store.stale_profiles(version, subscriber_ids))


def build_profiles(
    store: Store, version: str, model: TextModel, subscriber_ids: Sequence[int]
) -> int:
    """Build and store the vectors of every profile of ``subscriber_ids``, in chunks."""
    for start in range(0, len(subscriber_ids), _BUILD_CHUNK):
        rows = store.profile_rows(subscriber_ids[start : start + _BUILD_CHUNK])
        build_given(
            store,
            version,
            model,
            [
                (row[0], profile)
                for sid, ps in rows.items()
                for row in ps
                if (profile := stored_profile(sid, row[1])) is not None
            ],
        )
    return len(subscriber_ids)


def build_given(
    store: Store, version: str, model: TextModel, given: Sequence[tuple[int, Profile]]
) -> None:
    """Build and store the vectors of these (profile row id, profile) pairs."""
    made = vectors_for(store, version, model, [p for _, p in given])
    store.put_profile_vectors(version, [(pid, v) for (pid, _), v in zip(given, made, strict=True)])


def vectors_for(
    store: Store, version: str, model: TextModel, profiles: Sequence[Profile]
) -> list[bytes]:
    """The cached vectors of these profiles, in chunks, and the embeddings of the seeds
    they name stored; seed papers that are stored papers reuse their embeddings."""
    out: list[bytes] = []
    for start in range(0, len(profiles), _BUILD_CHUNK):
        chunk = profiles[start : start + _BUILD_CHUNK]
        known = known_papers(store, names(chunk))
        stored = store.embeddings(version, [f"p:{pid}" for pid in known])
        vectors = {
            key[2:]: np.frombuffer(vector, dtype=np.float32) for key, (_, vector) in stored.items()
        }
        built, seeds = cache_profiles(chunk, model, known, vectors)
        store.put_embeddings(version, seeds)
        out += [c.to_bytes() for c in built]
    return out


def cache_profiles(
    profiles: Sequence[Profile],
    model: TextModel,
    known: Mapping[str, Paper],
    paper_vectors: Mapping[str, np.ndarray] | None = None,
) -> tuple[list[CachedProfile], list[tuple[str, str, bytes]]]:
    """Each profile's cached form, and the seed embeddings they point at as (key,
    title, vector bytes) rows. A seed's key is the hash of its embedding, so the same
    seed named by many profiles is stored once."""
    if not profiles:
        return [], []
    vectors, seeds = profile_vectors(profiles, model, known, paper_vectors)
    keys = [_seed_key(seeds.titles[i], seeds.vectors[i]) for i in range(len(seeds.titles))]
    cached = []
    for profile, vector in zip(profiles, vectors, strict=True):
        rows = [int(r) for r in vector.seed_rows]
        local = np.arange(len(rows), dtype=np.int64)
        cached.append(
            CachedProfile(
                replace(vector, seed_rows=local),
                tuple(keys[r] for r in rows),
                frozenset(names([profile])),
                frozenset(followed(profile)),
            )
        )
    embedded = {
        keys[i]: (seeds.titles[i], np.ascontiguousarray(seeds.vectors[i], np.float32).tobytes())
        for i in range(len(keys))
    }
    return cached, [(f"s:{k}", t, v) for k, (t, v) in embedded.items()]


KNOWN_SEEDS = 32768
"""How many seed embeddings a process keeps between shards (about 1 KB each)."""


def gather(
    store: Store,
    version: str,
    cached: Sequence[CachedProfile],
    known: dict[str, tuple[str, bytes]] | None = None,
) -> tuple[list[ProfileVector], Seeds]:
    """The profiles' vectors with ``seed_rows`` pointing into one :class:`Seeds` of
    every seed they name, read from the store. ``known`` keeps seed embeddings read
    before (made with ``version``; a seed's key is a hash of its text, so a kept one
    never goes stale): the day's shards share most of their readers' seeds."""
    keys = [f"s:{k}" for k in dict.fromkeys(k for c in cached for k in c.seed_keys)]
    if known is None:
        return _assemble(cached, store.embeddings(version, keys))
    missing = [k for k in keys if k not in known]
    if len(known) + len(missing) > KNOWN_SEEDS:
        known.clear()
        missing = keys
    if missing:
        known.update(store.embeddings(version, missing))
    return _assemble(cached, known)


def _assemble(
    cached: Sequence[CachedProfile], stored: Mapping[str, tuple[str, bytes]]
) -> tuple[list[ProfileVector], Seeds]:
    keys = list(dict.fromkeys(k for c in cached for k in c.seed_keys))
    index: dict[str, int] = {}
    titles: list[str] = []
    rows: list[bytes] = []
    for key in keys:
        found = stored.get(f"s:{key}")
        if found is not None:
            index[key] = len(rows)
            titles.append(found[0])
            rows.append(found[1])
    dims = cached[0].vector.text.shape[0] if cached else 0
    matrix = (
        np.frombuffer(b"".join(rows), dtype=np.float32).reshape(len(rows), -1)
        if rows
        else np.zeros((0, dims), np.float32)
    )
    vectors = [
        replace(
            c.vector,
            seed_rows=np.array([index[k] for k in c.seed_keys if k in index], dtype=np.int64),
        )
        for c in cached
    ]
    return vectors, Seeds(matrix, titles)


def gather_in_memory(
    cached: Sequence[CachedProfile], embedded: Sequence[tuple[str, str, bytes]]
) -> tuple[list[ProfileVector], Seeds]:
    """As :func:`gather`, from embeddings just made rather than stored ones."""
    return _assemble(cached, {k: (t, v) for k, t, v in embedded})


def _seed_key(title: str, vector: np.ndarray) -> str:
    digest = hashlib.sha1(title.encode())
    digest.update(np.ascontiguousarray(vector, np.float32).tobytes())
    return digest.hexdigest()


def names(profiles: Iterable[Profile]) -> set[str]:
    """Paper ids a profile names: seed papers and feedback."""
    ids: set[str] = set()
    for p in profiles:
        ids.update(s.id for s in p.seed_papers if s.id)
        ids.update(p.liked)
        ids.update(p.disliked)
    return ids


def followed(profile: Profile) -> set[str]:
    """Paper ids whose new versions the profile's reader wants: seeds and likes."""
    return {s.id for s in profile.seed_papers if s.id} | set(profile.liked)


def known_papers(store: Store, ids: Iterable[str]) -> dict[str, Paper]:
    """Stored papers by id, plus seed papers fetched from the arXiv API for profiles."""
    wanted = list(dict.fromkeys(ids))
    found = store.get_papers(wanted)
    for pid in wanted:
        if pid not in found:
            blob = store.get_blob(f"seed:{pid}")
            if blob is not None:
                found[pid] = Paper(**_paper_fields(json.loads(blob)))
    return found


def _paper_fields(data: dict[str, Any]) -> dict[str, Any]:
    fields = dict(data)
    fields["authors"] = tuple(fields.get("authors", ()))
    fields["categories"] = tuple(fields.get("categories", ()))
    if fields.get("published"):
        fields["published"] = date.fromisoformat(fields["published"])
    return fields


def embed_papers(store: Store, version: str, model: TextModel, papers: Sequence[Paper]) -> int:
    """Store the embeddings of those ``papers`` that lack one for ``version``."""
    have = store.embeddings(version, [f"p:{p.id}" for p in papers])
    missing = [p for p in papers if f"p:{p.id}" not in have]
    if missing:
        vectors = model.embed(missing).astype(np.float32)
        store.put_embeddings(
            version,
            [(f"p:{p.id}", p.title, vectors[i].tobytes()) for i, p in enumerate(missing)],
        )
    return len(missing)


def paper_matrix(store: Store, version: str, papers: Sequence[Paper]) -> np.ndarray | None:
    """The stored embeddings of ``papers`` in order, or None if any is missing."""
    stored = store.embeddings(version, [f"p:{p.id}" for p in papers])
    if len(stored) < len({p.id for p in papers}):
        return None
    return np.frombuffer(
        b"".join(stored[f"p:{p.id}"][1] for p in papers), dtype=np.float32
    ).reshape(len(papers), -1)
