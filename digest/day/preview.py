"""Digests shown rather than sent: the manage page's live preview, `digest preview`,
and a sent digest's archive page."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from digest.day.feeds import sections
from digest.day.picks import rank
from digest.day.shard import link_maker
from digest.day.vectors import (
    Models,
    cache_profiles,
    gather_in_memory,
    known_papers,
    names,
    paper_matrix,
)
from digest.models import Digest, DigestSection, Paper, Profile
from digest.render import Renderer
from digest.score.textmodel import TextModel
from digest.settings import Settings
from digest.store import Store


class Recent:
    """The papers of recent batch ranges and their embeddings, kept between page
    loads by a long-running process (the web app) for ``ttl`` seconds: every reader's
    preview reads the same latest batch, and a batch that a collect is still filling
    is read again soon after. A range of more than ``most`` papers (a reader whose
    last digest is long ago) is not kept."""

    def __init__(self, size: int = 8, ttl: float = 60.0, most: int = 5000) -> None:
        self.size = size
        self.ttl = ttl
        self.most = most
        self._found: dict[tuple[str, int | None, int], tuple[float, list[Paper], np.ndarray]] = {}

    def papers(
        self, store: Store, version: str, model: TextModel, after: int | None, upto: int
    ) -> tuple[list[Paper], np.ndarray]:
        key = (version, after, upto)
        now = time.monotonic()
        found = self._found.get(key)
        if found is not None and now - found[0] < self.ttl:
            return found[1], found[2]
        papers = store.papers_since(after, upto)
        # the day stored the batch's embeddings: a page load reads them, never stores them
        matrix = paper_matrix(store, version, papers) if papers else None
        if matrix is None:
            matrix = model.embed(papers)
        if len(papers) <= self.most:
            if len(self._found) >= self.size:
                self._found.clear()
            self._found[key] = (now, papers, matrix)
        return papers, matrix


def preview_sections(
    store: Store,
    settings: Settings,
    subscriber_id: int,
    profiles: Sequence[Profile],
    *,
    now: datetime,
    models: Models | None = None,
    recent: Recent | None = None,
) -> list[DigestSection]:
    """What the subscriber's next digest would hold with ``profiles`` (saved or not):
    the papers since their last digest, or the latest batch when nothing is new yet.
    Reads the stored model (once per version, with ``models`` kept by the caller);
    never fits one."""
    latest = store.latest_batch_id()
    current = (models or Models(store)).current()
    if latest is None or current is None or not profiles:
        return []
    model = current[1]
    sub = store.subscriber(subscriber_id)
    after = sub.last_batch_id if sub is not None else None
    if after is None or after >= latest:
        after = latest - 1
    papers, matrix = (recent or Recent()).papers(store, current[0], model, after, latest)
    if not papers:
        return []
    cached, embedded = cache_profiles(profiles, model, known_papers(store, names(profiles)))
    vectors, seeds = gather_in_memory(cached, embedded)
    return rank(papers, matrix, {subscriber_id: cached}, vectors, seeds)[subscriber_id]


RATE_PAPERS = 10


def cold(profile: Profile) -> bool:
    """A profile with words but nothing to learn from: no seed paper, no feedback."""
    return bool(profile.keywords) and not (profile.seed_papers or profile.liked or profile.disliked)


def to_rate(
    store: Store,
    profile: Profile,
    *,
    models: Models | None = None,
    recent: Recent | None = None,
    limit: int = RATE_PAPERS,
) -> list[Paper]:
    """About ``limit`` papers of the latest batch for a new reader to rate in one go,
    spread over the profile's keywords: each keyword's best in turn, none twice."""
    latest = store.latest_batch_id()
    current = (models or Models(store)).current()
    if latest is None or current is None or not profile.keywords:
        return []
    version, model = current
    papers, matrix = (recent or Recent()).papers(store, version, model, latest - 1, latest)
    if not papers:
        return []
    singles = [
        Profile(name=f"k{i}", keywords=[k], exclude=profile.exclude, cutoff="any", max_papers=limit)
        for i, k in enumerate(profile.keywords[:limit])
    ]
    cached, embedded = cache_profiles(singles, model, {})
    vectors, seeds = gather_in_memory(cached, embedded)
    found = rank(papers, matrix, {i: [c] for i, c in enumerate(cached)}, vectors, seeds)
    queues = [[sp.paper for s in found[i] for sp in s.papers] for i in range(len(cached))]
    picked: dict[str, Paper] = {}
    while len(picked) < limit and any(queues):
        for queue in queues:
            while queue and queue[0].id in picked:
                queue.pop(0)
            if queue and len(picked) < limit:
                paper = queue.pop(0)
                picked[paper.id] = paper
    return list(picked.values())


def preview(store: Store, settings: Settings, email: str, *, now: datetime) -> str | None:
    """The HTML of the digest ``email`` would get now, without sending or recording it."""
    sub = store.subscriber(email)
    if sub is None:
        return None
    found = preview_sections(store, settings, sub.id, store.profiles(sub.id), now=now)
    links = link_maker(settings)
    digest = Digest(sub.email, now.date(), tuple(found), links.links(sub.id))
    return Renderer(settings).email(digest).html


def archive_html(
    store: Store, settings: Settings, subscriber_id: int, delivery_id: int
) -> str | None:
    """A recorded digest as a web page; None unless it is this subscriber's."""
    delivery = store.delivery(delivery_id)
    sub = store.subscriber(subscriber_id)
    if delivery is None or sub is None or delivery.subscriber_id != subscriber_id:
        return None
    items = store.items([delivery.id])[delivery.id]
    papers = store.get_papers(i.paper_id for i in items)
    links = link_maker(settings)
    digest = Digest(
        sub.email, delivery.day, sections(items, papers), links.links(sub.id, delivery.id)
    )
    return Renderer(settings).email(digest).html
