"""The stored text model and profile vectors: refitted off the day's path, read back by it."""

from __future__ import annotations

import pytest

from digest.day.sources import adhoc_sources, collect_sources
from digest.day.vectors import Models, ensure_model, refit
from digest.settings import Settings
from digest.store import Store
from tests.conftest import FIXTURES, NOW


def test_a_stored_model_that_cannot_be_read_is_fitted_again(
    settings: Settings, store: Store
) -> None:
    batch = str(FIXTURES / "batches" / "2026-06-30.jsonl")
    collect_sources(store, settings, adhoc_sources([batch], None), now=NOW)
    assert refit(store, now=NOW) is not None
    store.put_model(b"not a pickled model", now=NOW)
    assert Models(store).current() is None
    found = ensure_model(store, now=NOW)
    assert found is not None
    _, model = found
    assert model.fitted_on == store.count_papers()
    assert Models(store).current() is not None


def test_a_refit_reads_only_the_newest_papers(
    settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import digest.day.vectors as vectors_module

    for day in ("2026-06-29", "2026-06-30"):
        batch = str(FIXTURES / "batches" / f"{day}.jsonl")
        collect_sources(store, settings, adhoc_sources([batch], None), now=NOW)
    newest = store.recent_papers(50)
    assert len(newest) == 50
    latest = store.latest_batch_id()
    assert {p.id for p in newest} <= {p.id for p in store.papers(batch_id=latest)}
    monkeypatch.setattr(vectors_module, "MODEL_PAPERS", 50)
    assert refit(store, now=NOW, force=True) is not None
    found = Models(store).current()
    assert found is not None and found[1].fitted_on == 50


def test_a_cached_profile_of_an_older_layout_reads_as_missing_and_is_built_again() -> None:
    import numpy as np

    from digest.day.vectors import CachedProfile
    from digest.score import ProfileVector

    vector = ProfileVector(name="p", text=np.ones(4, dtype=np.float32), labels={"llm": "LLMs"})
    cached = CachedProfile(vector, (), frozenset())
    found = CachedProfile.from_bytes(cached.to_bytes())
    assert found is not None and found.vector.labels == {"llm": "LLMs"}
    del vector.labels  # as a profile cached before keywords kept their wording
    assert CachedProfile.from_bytes(cached.to_bytes()) is None
