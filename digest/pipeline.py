"""The day's stages wired together: open the store, collect, (score, render, deliver)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from importlib import resources
from pathlib import Path

import httpx

from digest.collect import CollectReport, collect
from digest.models import SourceReport
from digest.profiles import SubscriberFile
from digest.settings import Settings, SourceSettings
from digest.sources import Source, make_source
from digest.store import Store


def open_store(settings: Settings) -> Store:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Store.open(settings.db_url)


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
        return collect(store, sources, now=now, on_source=on_source)


def import_subscriber(store: Store, sub: SubscriberFile, *, now: datetime) -> None:
    """Create or update the subscriber and replace their profiles, all or nothing."""
    existing = store.subscriber(sub.email)
    if existing is None:
        existing = store.add_subscriber(sub.email, now=now, status="active")
    store.save_profiles(
        existing.id, sub.profiles, now=now, subscriber_fields=sub.subscriber_fields()
    )


def export_subscriber(store: Store, email: str) -> SubscriberFile | None:
    sub = store.subscriber(email)
    if sub is None:
        return None
    return SubscriberFile(
        email=sub.email,
        send_hour=sub.send_hour,
        timezone=sub.timezone,
        cadence=sub.cadence,  # type: ignore[arg-type]
        weekdays=list(sub.weekdays),
        channels=list(sub.channels),  # type: ignore[arg-type]
        profiles=store.profiles(sub.id),
    )
