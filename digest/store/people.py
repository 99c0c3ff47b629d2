"""Stored subscribers, their named profiles and feedback."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, bindparam, case, delete, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from digest.models import MAX_FEEDBACK, Profile, Status, Subscriber
from digest.store.base import StoreBase
from digest.tables import deliveries, mail_reports, profiles, subscribers, suppressions

log = logging.getLogger("digest.store")

NEWEST_LAST = frozenset({"liked", "disliked"})

SUBSCRIBER_FIELDS = ("status", "send_hour", "timezone", "cadence", "weekdays", "channels")

# A deleted subscriber keeps a row without an address, so that its id (which every
# link token names) is never given to someone else; no lookup ever returns it.
DELETED = Status.DELETED
_LIVE = subscribers.c.status != DELETED


class UnknownSubscriber(LookupError):
    pass


def _subscriber(row: Row[Any]) -> Subscriber:
    m = row._mapping
    return Subscriber(
        id=m["id"],
        email=m["email"],
        status=m["status"],
        send_hour=m["send_hour"],
        timezone=m["timezone"],
        cadence=m["cadence"],
        weekdays=tuple(m["weekdays"]),
        channels=tuple(m["channels"]),
        last_batch_id=m["last_batch_id"],
        created_at=m["created_at"],
        confirmed_at=m["confirmed_at"],
    )


def stored_profile(subscriber_id: int, data: Mapping[str, Any]) -> Profile | None:
    """A stored profile as a model. A row beyond the model's limits (one written by an
    older version, or by hand) is cut to them, keeping the newest feedback, and logged;
    one that still does not validate is skipped and logged. Either way one reader's
    data never stops a page or a run for anyone else."""
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        problem = exc
    fixed = dict(data)
    for error in problem.errors():
        loc, ctx = error["loc"], error.get("ctx") or {}
        if error["type"] in ("too_long", "string_too_long") and len(loc) == 1:
            name, limit = str(loc[0]), int(ctx["max_length"])
            value = fixed[name]
            fixed[name] = value[-limit:] if name in NEWEST_LAST else value[:limit]
    try:
        profile = Profile.model_validate(fixed)
    except ValidationError as exc:
        log.warning(
            "skipping a stored profile of subscriber %s that is not valid: %s",
            subscriber_id,
            exc,
        )
        return None
    log.warning(
        "a stored profile of subscriber %s was beyond the limits and was cut to them: %s",
        subscriber_id,
        problem,
    )
    return profile


def _listify(values: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


class PeopleStore(StoreBase):
    """Subscribers and profiles. Emails are stored lower-cased."""

    def add_subscriber(self, email: str, *, now: datetime, **fields: Any) -> Subscriber:
        """Create a subscriber (``pending`` unless ``status`` says otherwise)."""
        values = {
            "status": Status.PENDING,
            "weekdays": [0],
            "channels": ["email", "rss"],
            **_listify(fields),
        }
        if values["status"] == Status.ACTIVE:
            values.setdefault("confirmed_at", now)
        with self.engine.begin() as conn:
            result = conn.execute(
                subscribers.insert().values(email=email.lower(), created_at=now, **values)
            )
            key = result.inserted_primary_key
            assert key is not None
            row = conn.execute(select(subscribers).where(subscribers.c.id == key[0])).one()
        return _subscriber(row)

    def find_or_add_subscriber(self, email: str, *, now: datetime, **fields: Any) -> Subscriber:
        """The subscriber with this address, created (as :meth:`add_subscriber`) if there
        is none; two requests racing to create the same one both get it."""
        found = self.subscriber(email)
        if found is not None:
            return found
        try:
            return self.add_subscriber(email, now=now, **fields)
        except IntegrityError:
            raced = self.subscriber(email)
            if raced is None:
                raise
            return raced

    def claim_link_mail(
        self, subscriber_id: int, *, now: datetime, gap: timedelta, per_day: int
    ) -> bool:
        """Count one more confirm/manage mail to this subscriber if at most ``per_day``
        in a day, ``gap`` apart, allow it; False if not. One conditional UPDATE, so two
        simultaneous requests cannot both pass. The count restarts once a whole day has
        passed since the last mail."""
        c = subscribers.c
        day = timedelta(days=1)
        quiet_for_a_day = or_(c.confirm_sent_at.is_(None), c.confirm_sent_at <= now - day)
        with self.engine.begin() as conn:
            done = conn.execute(
                update(subscribers)
                .where(
                    c.id == subscriber_id,
                    or_(
                        quiet_for_a_day,
                        (c.confirm_sent_at <= now - gap) & (c.confirm_sends < per_day),
                    ),
                )
                .values(
                    confirm_sent_at=now,
                    confirm_sends=case((quiet_for_a_day, 1), else_=c.confirm_sends + 1),
                )
            )
        return done.rowcount == 1

    def subscriber(self, key: int | str) -> Subscriber | None:
        """By id, or by email address."""
        column = subscribers.c.id if isinstance(key, int) else subscribers.c.email
        value = key if isinstance(key, int) else key.lower()
        with self.engine.connect() as conn:
            row = conn.execute(select(subscribers).where(column == value, _LIVE)).first()
        return _subscriber(row) if row else None

    def subscribers_by_id(self, subscriber_ids: Iterable[int]) -> dict[int, Subscriber]:
        wanted = list(subscriber_ids)
        found: dict[int, Subscriber] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), 900):
                query = select(subscribers).where(
                    subscribers.c.id.in_(wanted[start : start + 900]), _LIVE
                )
                found.update((s.id, s) for s in map(_subscriber, conn.execute(query)))
        return found

    def subscribers(self, *, status: str | None = None) -> list[Subscriber]:
        query = select(subscribers).where(_LIVE).order_by(subscribers.c.id)
        if status is not None:
            query = query.where(subscribers.c.status == status)
        with self.engine.connect() as conn:
            return [_subscriber(r) for r in conn.execute(query)]

    def update_subscriber(self, subscriber_id: int, **fields: Any) -> Subscriber:
        with self.engine.begin() as conn:
            done = conn.execute(
                update(subscribers)
                .where(subscribers.c.id == subscriber_id)
                .values(**_listify(fields))
            )
            if done.rowcount == 0:
                raise UnknownSubscriber(subscriber_id)
            row = conn.execute(select(subscribers).where(subscribers.c.id == subscriber_id)).one()
        return _subscriber(row)

    def delete_subscriber(self, subscriber_id: int, *, now: datetime) -> None:
        """Forget a subscriber: address, profiles and every ledger row, in one
        transaction. What is left is an empty row holding the id."""
        with self.engine.begin() as conn:
            conn.execute(delete(profiles).where(profiles.c.subscriber_id == subscriber_id))
            conn.execute(delete(deliveries).where(deliveries.c.subscriber_id == subscriber_id))
            for table in (suppressions, mail_reports):
                conn.execute(delete(table).where(table.c.subscriber_id == subscriber_id))
            done = conn.execute(
                update(subscribers)
                .where(subscribers.c.id == subscriber_id, _LIVE)
                .values(
                    email=f"deleted-{subscriber_id}@deleted.invalid",
                    status=DELETED,
                    unsubscribed_at=now,
                    weekdays=[],
                    channels=[],
                    last_batch_id=None,
                    confirm_sent_at=None,
                )
            )
            if done.rowcount == 0:
                raise UnknownSubscriber(subscriber_id)

    def save_profiles(
        self,
        subscriber_id: int,
        new_profiles: Sequence[Profile],
        *,
        now: datetime,
        subscriber_fields: dict[str, Any] | None = None,
    ) -> None:
        """Replace all of a subscriber's profiles (and optionally settings) at once."""
        with self.engine.begin() as conn:
            if subscriber_fields:
                conn.execute(
                    update(subscribers)
                    .where(subscribers.c.id == subscriber_id)
                    .values(**_listify(subscriber_fields))
                )
            conn.execute(delete(profiles).where(profiles.c.subscriber_id == subscriber_id))
            if new_profiles:
                conn.execute(
                    profiles.insert(),
                    [
                        {
                            "subscriber_id": subscriber_id,
                            "name": p.name,
                            "position": i,
                            "data": p.model_dump(mode="json"),
                            "updated_at": now,
                        }
                        for i, p in enumerate(new_profiles)
                    ],
                )

    def import_subscribers(
        self,
        imported: Sequence[tuple[str, dict[str, Any], Sequence[Profile]]],
        *,
        now: datetime,
        vectors: Sequence[bytes] | None = None,
        model: str | None = None,
    ) -> list[int]:
        """Create or update many subscribers (active) and replace their profiles, in one
        transaction: all or nothing. ``vectors``, one per profile in the order given,
        are their cached vectors made with ``model``. Returns the subscribers' ids, in
        order."""
        emails = [e.lower() for e, _, _ in imported]
        with self.engine.begin() as conn:
            ids: dict[str, int] = {}
            for start in range(0, len(emails), 900):
                query = select(subscribers.c.email, subscribers.c.id).where(
                    subscribers.c.email.in_(emails[start : start + 900])
                )
                ids.update((e, i) for e, i in conn.execute(query))
            fresh = [
                {
                    "email": email,
                    "created_at": now,
                    "confirmed_at": now,
                    "status": Status.ACTIVE,
                    **_listify(fields),
                }
                for email, (_, fields, _) in zip(emails, imported, strict=True)
                if email not in ids
            ]
            new = {f["email"] for f in fresh}
            if fresh:
                made = conn.execute(
                    subscribers.insert().returning(subscribers.c.email, subscribers.c.id), fresh
                )
                ids.update((e, i) for e, i in made)
            known = [
                {"sid": ids[email], **_listify(fields)}
                for email, (_, fields, _) in zip(emails, imported, strict=True)
                if email not in new
            ]
            if known:
                conn.execute(
                    update(subscribers)
                    .where(subscribers.c.id == bindparam("sid"))
                    .values(
                        status=Status.ACTIVE, **{k: bindparam(k) for k in known[0] if k != "sid"}
                    ),
                    known,
                )
            order = [ids[e] for e in emails]
            for start in range(0, len(order), 900):
                conn.execute(
                    delete(profiles).where(profiles.c.subscriber_id.in_(order[start : start + 900]))
                )
            rows = [
                {
                    "subscriber_id": sid,
                    "name": p.name,
                    "position": i,
                    "data": p.model_dump(mode="json"),
                    "updated_at": now,
                }
                for sid, (_, _, ps) in zip(order, imported, strict=True)
                for i, p in enumerate(ps)
            ]
            if vectors is not None:
                for row, vector in zip(rows, vectors, strict=True):
                    row["vector"], row["vector_model"] = vector, model
            if rows:
                conn.execute(profiles.insert(), rows)
        return order

    def profiles(self, subscriber_id: int) -> list[Profile]:
        return self.profiles_of([subscriber_id]).get(subscriber_id, [])

    def profiles_of(self, subscriber_ids: Iterable[int]) -> dict[int, list[Profile]]:
        """Profiles of many subscribers at once, in their saved order."""
        wanted = list(subscriber_ids)
        found: dict[int, list[Profile]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), 900):
                query = (
                    select(profiles.c.subscriber_id, profiles.c.data)
                    .where(profiles.c.subscriber_id.in_(wanted[start : start + 900]))
                    .order_by(profiles.c.subscriber_id, profiles.c.position)
                )
                for sid, data in conn.execute(query):
                    profile = stored_profile(sid, data)
                    if profile is not None:
                        found.setdefault(sid, []).append(profile)
        return found

    def record_feedback(
        self, subscriber_id: int, profile_name: str, paper_id: str, vote: str, *, now: datetime
    ) -> bool:
        """Add ``paper_id`` to the profile's liked or disliked list (and out of the
        other); a list at its limit (``MAX_FEEDBACK``) drops its oldest entry. Returns
        False if the subscriber has no such profile."""
        if vote not in ("up", "down"):
            raise ValueError(f"vote must be 'up' or 'down', not {vote!r}")
        with self.engine.begin() as conn:
            row = _profile_row(conn, subscriber_id, profile_name)
            profile = stored_profile(subscriber_id, row.data) if row is not None else None
            if profile is None:
                return False
            keep, drop = ("liked", "disliked") if vote == "up" else ("disliked", "liked")
            kept = [*(p for p in getattr(profile, keep) if p != paper_id), paper_id]
            values = {
                keep: kept[-MAX_FEEDBACK:],
                drop: [p for p in getattr(profile, drop) if p != paper_id],
            }
            changed = profile.model_copy(update=values)
            conn.execute(
                update(profiles)
                .where(profiles.c.id == row.id)
                .values(
                    data=changed.model_dump(mode="json"),
                    updated_at=now,
                    vector=None,
                    vector_model=None,
                )
            )
        return True


def _profile_row(conn: Connection, subscriber_id: int, name: str) -> Any:
    return conn.execute(
        select(profiles.c.id, profiles.c.data).where(
            profiles.c.subscriber_id == subscriber_id, profiles.c.name == name
        )
    ).first()
