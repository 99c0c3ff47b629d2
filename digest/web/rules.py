"""What subscribing, confirming, unsubscribing and feedback do, with no HTTP in it.

The pages in this package read the request and show the result; these functions
decide and store. Each returns what a page needs to say (and, for subscribing, which
link mail to send after the response)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from digest.day import vectors
from digest.links import LinkMaker
from digest.models import Profile, Status, Subscriber
from digest.store import Store
from digest.store.suppression import SUPPRESSED
from digest.web.forms import Subscription
from digest.web.mail import LinkMail, claim_send


def subscribe(
    store: Store, links: LinkMaker, form: Subscription, *, now: datetime
) -> LinkMail | None:
    """Create or find the subscriber, keep the profile they typed if they have none,
    and say which link to mail (None when the rate limit says not now). The caller
    answers the same whatever the address's state, so the page reveals nothing."""
    sub = store.find_or_add_subscriber(
        form.email, now=now, status=Status.PENDING, send_hour=form.send_hour, timezone=form.timezone
    )
    if sub.status == Status.UNSUBSCRIBED:
        sub = store.update_subscriber(sub.id, status=Status.PENDING)
    if sub.status != Status.ACTIVE and not store.profiles(sub.id):
        store.save_profiles(sub.id, [form.profile], now=now)
    if not claim_send(store, sub.id, now=now):
        return None
    if sub.status in (Status.ACTIVE, SUPPRESSED):  # the manage page is where mail resumes
        return LinkMail("manage", sub.email, links.manage(sub.id), links.return_path(sub.id))
    return LinkMail("confirm", sub.email, links.confirm(sub.id), links.return_path(sub.id))


def renew_manage_link(
    store: Store, links: LinkMaker, subscriber_id: int, *, now: datetime
) -> LinkMail | None:
    """A fresh manage link for an expired one, to the subscriber's own address only
    (rate limited, and only while subscribed)."""
    sub = store.subscriber(subscriber_id)
    if sub is None or sub.status not in (Status.ACTIVE, SUPPRESSED):
        return None
    if not claim_send(store, sub.id, now=now):
        return None
    return LinkMail("manage", sub.email, links.manage(sub.id), links.return_path(sub.id))


def confirm(store: Store, sub: Subscriber, *, now: datetime) -> None:
    if sub.status == Status.PENDING:
        store.update_subscriber(sub.id, status=Status.ACTIVE, confirmed_at=now)


def unsubscribe(store: Store, sub: Subscriber, *, now: datetime) -> None:
    """At once, and harmlessly again: mail stops from the next run on."""
    if sub.status != Status.UNSUBSCRIBED:
        store.update_subscriber(sub.id, status=Status.UNSUBSCRIBED, unsubscribed_at=now)


def resume(store: Store, sub: Subscriber) -> bool:
    """Send again to a suppressed reader who asks for it on their manage page: they
    are as they were before, and their digest goes from the next run on."""
    return store.resume(sub.id)


def save_profiles(
    store: Store,
    sub: Subscriber,
    profiles: list[Profile],
    subscriber_fields: dict[str, object],
    *,
    now: datetime,
    models: vectors.Models | None = None,
) -> None:
    store.save_profiles(sub.id, profiles, now=now, subscriber_fields=subscriber_fields)
    vectors.refresh(store, [sub.id], models=models)


@dataclass(frozen=True, slots=True)
class Feedback:
    subscriber: Subscriber
    vote: str
    profile: str
    paper_id: str


def was_sent(store: Store, target: Feedback) -> bool:
    """Feedback links are only made for papers in the reader's digests; any other
    paper id is a link we never gave out."""
    return store.received(target.subscriber.id, target.paper_id)


def has_profile(store: Store, target: Feedback) -> bool:
    return any(p.name == target.profile for p in store.profiles(target.subscriber.id))


def record_feedback(
    store: Store, target: Feedback, *, now: datetime, models: vectors.Models | None = None
) -> bool:
    """Store the vote and rebuild the profile's vector; False if the profile is gone."""
    recorded = store.record_feedback(
        target.subscriber.id, target.profile, target.paper_id, target.vote, now=now
    )
    if recorded:
        vectors.refresh(store, [target.subscriber.id], models=models)
    return recorded


MAX_RATINGS = 20
"""Papers rated in one go on the manage page (it offers about ten)."""


def rate(
    store: Store,
    sub: Subscriber,
    profile: str,
    votes: list[tuple[str, str]],
    *,
    now: datetime,
    models: vectors.Models | None = None,
) -> int | None:
    """Record a new reader's ratings of the papers offered to them as the profile's
    feedback, and rebuild its vector once: the preview and the next digest use them
    at once. Only stored papers count. Returns how many were recorded, or None if the
    profile is gone."""
    if not has_profile(store, Feedback(sub, "up", profile, "")):
        return None
    wanted = dict(votes[:MAX_RATINGS])
    known = store.get_papers(list(wanted))
    recorded = 0
    for paper_id, vote in wanted.items():
        if paper_id in known and vote in ("up", "down"):
            recorded += store.record_feedback(sub.id, profile, paper_id, vote, now=now)
    if recorded:
        vectors.refresh(store, [sub.id], models=models)
    return recorded
