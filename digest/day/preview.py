"""Digests shown rather than sent: the manage page's live preview, `digest preview`,
and a sent digest's archive page."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

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
from digest.models import Digest, DigestSection, Profile
from digest.render import Renderer
from digest.settings import Settings
from digest.store import Store


def preview_sections(
    store: Store,
    settings: Settings,
    subscriber_id: int,
    profiles: Sequence[Profile],
    *,
    now: datetime,
) -> list[DigestSection]:
    """What the subscriber's next digest would hold with ``profiles`` (saved or not):
    the papers since their last digest, or the latest batch when nothing is new yet.
    Reads the stored model; never fits one."""
    latest = store.latest_batch_id()
    current = Models(store).current()
    if latest is None or current is None or not profiles:
        return []
    model = current[1]
    sub = store.subscriber(subscriber_id)
    after = sub.last_batch_id if sub is not None else None
    if after is None or after >= latest:
        after = latest - 1
    papers = store.papers_since(after, latest)
    if not papers:
        return []
    cached, embedded = cache_profiles(profiles, model, known_papers(store, names(profiles)))
    vectors, seeds = gather_in_memory(cached, embedded)
    # the day stored the batch's embeddings: a page load reads them, never makes them
    matrix = paper_matrix(store, current[0], papers)
    if matrix is None:
        matrix = model.embed(papers)
    return rank(papers, matrix, {subscriber_id: cached}, vectors, seeds)[subscriber_id]


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
