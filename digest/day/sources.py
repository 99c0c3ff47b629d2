"""The sources a day collects: configured ones, ad-hoc paths and URLs, the samples."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from importlib import resources
from pathlib import Path

import httpx

from digest.collect import CollectReport, collect
from digest.day.feeds import prune_fragments
from digest.models import SourceReport
from digest.settings import Settings, SourceSettings
from digest.sources import Source, make_source
from digest.store import Store


def sample_sources() -> list[SourceSettings]:
    """The real feeds shipped with the package, for the demo and first runs."""
    folder = Path(str(resources.files("digest") / "samples"))
    return [
        SourceSettings(name=f"sample:{path.stem}", location=str(path))
        for path in sorted(folder.iterdir())
        if path.suffix in (".xml", ".json", ".jsonl")
    ]


def adhoc_sources(locations: Sequence[str], format: str | None) -> list[SourceSettings]:
    return [
        SourceSettings(name=location, location=location, format=format)  # type: ignore[arg-type]
        for location in locations
    ]


def collect_sources(
    store: Store,
    settings: Settings,
    configs: Sequence[SourceSettings],
    *,
    now: datetime,
    on_source: Callable[[SourceReport], None] | None = None,
) -> CollectReport:
    with httpx.Client(timeout=settings.http.timeout, follow_redirects=True) as client:
        sources: list[Source] = [
            make_source(c, settings.http, client) for c in configs if c.enabled
        ]
        report = collect(store, sources, now=now, on_source=on_source)
    prune_fragments(settings, now.date(), store)
    return report
