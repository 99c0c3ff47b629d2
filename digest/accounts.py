"""Subscribers in and out of files, and seed papers looked up by arXiv id."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import httpx

from digest.day.vectors import Models, known_papers, vectors_for
from digest.identity import parse_arxiv_id
from digest.models import Paper
from digest.profiles import SubscriberFile
from digest.settings import Settings
from digest.sources.formats import parse
from digest.store import Store


class SeedLookupError(Exception):
    """The arXiv API could not be asked (down, unreachable, or answering nonsense):
    the ids are unchecked, not wrong."""


def import_subscribers(store: Store, subs: Sequence[SubscriberFile], *, now: datetime) -> int:
    """Create or update each subscriber (active) and replace their profiles, in one
    transaction, their profile vectors made first (from the profiles as given: they
    were validated once, on reading) and written with them. A subscriber named twice
    counts as their last file. Returns how many subscribers were stored."""
    last = {s.email: s for s in subs}
    found = Models(store).current()
    vectors = version = None
    if found is not None:
        version = found[0]
        vectors = vectors_for(
            store, version, found[1], [p for s in last.values() for p in s.profiles]
        )
    ids = store.import_subscribers(
        [(s.email, s.subscriber_fields(), s.profiles) for s in last.values()],
        now=now,
        vectors=vectors,
        model=version,
    )
    return len(ids)


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


def resolve_seed_ids(
    store: Store, settings: Settings, ids: Sequence[str], *, now: datetime | None = None
) -> tuple[list[str], list[str]]:
    """(ids usable as seed papers, ids neither stored nor found on the arXiv API).
    Papers fetched from the API are kept for scoring, not added to any batch. Raises
    :class:`SeedLookupError` when the API cannot be asked."""
    wanted = [_seed_id(i) for i in ids if i.strip()]
    found = known_papers(store, wanted)
    missing = [i for i in wanted if i not in found]
    if missing:
        for paper in _fetch_arxiv(settings, missing):
            store.put_blob(
                f"seed:{paper.id}",
                json.dumps(paper.to_json()).encode(),
                now=now or datetime.now(UTC).replace(tzinfo=None),
            )
            found[paper.id] = paper
    return [i for i in wanted if i in found], [i for i in wanted if i not in found]


def _seed_id(text: str) -> str:
    parsed = parse_arxiv_id(text.strip())
    return parsed[0] if parsed else text.strip()


def _fetch_arxiv(settings: Settings, ids: Sequence[str]) -> list[Paper]:
    api = settings.http.arxiv_api
    try:
        with httpx.Client(
            timeout=settings.http.timeout, headers={"User-Agent": settings.http.user_agent}
        ) as client:
            response = client.get(api, params={"id_list": ",".join(ids), "max_results": len(ids)})
            response.raise_for_status()
    except httpx.HTTPError as exc:
        raise SeedLookupError(f"the arXiv API ({api}) could not be reached: {exc}") from exc
    result = parse(response.content, source="arxiv-api", format="feed")
    if result.error:
        raise SeedLookupError(f"the arXiv API ({api}) answered with {result.error}")
    wanted = set(ids)
    return [p for p in result.papers if p.id in wanted]
