"""The text model of a batch fixture, fitted once per test session and installed into
each test's store as ``refit`` would leave it: the model, the batch's embeddings, and
the vectors of every stored profile. Fitting takes seconds; installing, milliseconds."""

from __future__ import annotations

import functools
import tempfile
from datetime import datetime
from pathlib import Path

from digest.day.vectors import MODEL_PAPERS, build_profiles
from digest.score.textmodel import TextModel
from digest.settings import SourceSettings, load_settings
from digest.store import Store


@functools.cache
def _fit(batch: Path) -> tuple[bytes, tuple[tuple[str, str, bytes], ...]]:
    from digest.day.sources import collect_sources

    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(data_dir=Path(folder))
        store = Store.open(settings.db_url)
        collect_sources(
            store,
            settings,
            [SourceSettings(name="b", location=str(batch))],
            now=datetime(2026, 1, 1),
        )
        papers = store.recent_papers(MODEL_PAPERS)
        store.close()
    model, vectors = TextModel.fit_embed(papers)
    rows = tuple((f"p:{p.id}", p.title, vectors[i].tobytes()) for i, p in enumerate(papers))
    return model.to_bytes(), rows


def install_model(store: Store, batch: Path, *, now: datetime) -> str:
    """What ``refit(store, now=now)`` does on a store holding just ``batch``'s papers,
    without fitting again. Returns the model's version."""
    blob, rows = _fit(batch)
    version = store.put_model(blob, now=now)
    store.put_embeddings(version, list(rows))
    build_profiles(store, version, TextModel.from_bytes(blob), store.stale_profiles(version))
    return version
