"""Run every source, normalise and dedupe what they give, and record it as one batch."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from digest.models import Batch, SourceReport
from digest.sources import Fetched, Source
from digest.store import Store


@dataclass(frozen=True, slots=True)
class CollectReport:
    batch: Batch
    sources: tuple[SourceReport, ...]
    recovered: int = 0  # papers of batches an interrupted collect stored but never closed

    @property
    def failed(self) -> tuple[SourceReport, ...]:
        return tuple(s for s in self.sources if s.error)


def collect(
    store: Store,
    sources: Sequence[Source],
    *,
    now: datetime,
    on_source: Callable[[SourceReport], None] | None = None,
) -> CollectReport:
    """Fetch each source and store its papers in a new batch.

    A source that fails (unreachable, not a feed, unreadable) is reported and changes
    nothing already stored; the other sources still run. Papers first seen here form
    the batch, so collecting the same inputs twice gives an empty second batch. Each
    source's papers are stored in one transaction: a collect killed midway leaves
    every source stored whole or not at all, and its batch is closed by the next.
    """
    recovered = store.close_open_batches()
    batch_id = store.new_batch(now, [s.name for s in sources])
    reports = []
    for source in sources:
        report = _collect_one(store, source, batch_id, now)
        reports.append(report)
        if on_source is not None:
            on_source(report)
    return CollectReport(store.close_batch(batch_id), tuple(reports), recovered)


def _collect_one(store: Store, source: Source, batch_id: int, now: datetime) -> SourceReport:
    state = store.source_state(source.name)
    try:
        fetched = source.fetch(state.validators if state else None)
    except Exception as exc:  # any failure of one source must not stop the others
        error = _describe(exc)
        store.record_source(source.name, source.location, now=now, status="error", error=error)
        return SourceReport(source.name, error=error)
    if fetched.not_modified:
        store.record_source(
            source.name,
            source.location,
            now=now,
            status="not-modified",
            validators=fetched.validators,
        )
        return SourceReport(source.name, not_modified=True)
    return _store_fetched(store, source, fetched, batch_id, now)


def _store_fetched(
    store: Store, source: Source, fetched: Fetched, batch_id: int, now: datetime
) -> SourceReport:
    result = fetched.result
    failed = result.error is not None
    new, updated = store.add_papers(batch_id, result.papers, now=now, update_existing=not failed)
    store.record_source(
        source.name,
        source.location,
        now=now,
        status="error" if failed else "ok",
        error=result.error,
        validators=None if failed else fetched.validators,
    )
    return SourceReport(
        source.name, fetched=len(result.papers), new=new, updated=updated, error=result.error
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"file not found: {exc.filename}"
    if isinstance(exc, OSError):
        return f"cannot read: {exc.strerror or exc}"
    text = str(exc) or type(exc).__name__
    return text if type(exc).__module__.startswith("digest") else f"{type(exc).__name__}: {text}"
