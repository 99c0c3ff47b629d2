"""Plan the day once: who is due, which papers, the ledger rows, and the shards.

Planning writes every due reader's ledger row in one transaction (each row keeps the
batch range its papers come from, and the reader's ``last_batch_id`` moves on with
it), makes sure the text model, the batch's embeddings and every due profile's
vectors are in the store, and cuts the rows still owed (new ones, and any left by a
crash or a deferral) into shards of plain data that any process can run.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from digest.day.vectors import Models, build_profiles, embed_papers, ensure_model
from digest.due import due_day, next_due, sends_on
from digest.models import Status, Subscriber
from digest.settings import Settings
from digest.store import Due, Store


@dataclass(frozen=True, slots=True)
class ShardSpec:
    """A shard: ledger rows to claim and finish together. Plain data, so that it
    crosses a process (or machine) boundary as it is."""

    number: int
    ids: tuple[int, ...]


@dataclass(slots=True)
class Plan:
    due: list[Due] = field(default_factory=list)
    planned: int = 0
    owed: int = 0
    model: str | None = None
    rebuilt: int = 0
    shards: list[ShardSpec] = field(default_factory=list)


def find_due(
    store: Store, *, now: datetime, day: date | None = None, only: str | None = None
) -> list[Due]:
    """Every active reader due at ``now`` (or on local ``day``, whatever the hour),
    with the batches their papers come from: those since their last digest, or the
    latest batch for a first digest."""
    latest = store.latest_batch_id()
    if latest is None:
        return []
    subs: list[Subscriber] = store.subscribers(status=Status.ACTIVE)
    if only is not None:
        subs = [s for s in subs if s.email == only.lower()]
    found = []
    for sub in subs:
        when = (day if sends_on(sub, day) else None) if day is not None else due_day(sub, now)
        if when is None or not sub.channels:
            continue
        after = sub.last_batch_id if sub.last_batch_id is not None else latest - 1
        found.append(Due(sub.id, when, min(after, latest), latest))
    return found


def waiting(
    store: Store, *, now: datetime, due: set[str], only: str | None = None
) -> dict[str, datetime | None]:
    """The active readers not in ``due`` (emails), with when their next digest falls
    due on their own clock (None: they get none)."""
    subs: list[Subscriber] = store.subscribers(status=Status.ACTIVE)
    return {
        s.email: next_due(s, now)
        for s in subs
        if s.email not in due and (only is None or s.email == only.lower())
    }


def plan_day(
    store: Store,
    settings: Settings,
    *,
    now: datetime,
    day: date | None = None,
    only: str | None = None,
) -> Plan:
    """Write the day's ledger rows and cut what is owed into shards."""
    plan = Plan(due=find_due(store, now=now, day=day, only=only))
    plan.planned = len(store.plan(plan.due, now=now))
    lease = timedelta(seconds=settings.day.claim_lease)
    since = now.date() - timedelta(days=settings.day.resume_days)
    owed = store.owed(
        since=since, days=[day] if day else [], now=now, lease=lease, alive=owner_alive
    )
    if only is not None:
        sub = store.subscriber(only)
        mine = {d.id for d in store.deliveries(subscriber_id=sub.id)} if sub else set()
        owed = [i for i in owed if i in mine]
    plan.owed = len(owed)
    if not owed:
        return plan
    found = ensure_model(store, now=now)
    if found is not None:
        plan.model, model = found
        for after, upto in store.batch_ranges(owed):
            embed_papers(store, plan.model, model, store.papers_since(after, upto))
        stale = store.stale_profiles(plan.model, store.owed_subscribers(owed))
        plan.rebuilt = build_profiles(store, plan.model, model, stale)
    size = settings.day.shard_size
    plan.shards = [
        ShardSpec(n, tuple(owed[start : start + size]))
        for n, start in enumerate(range(0, len(owed), size))
    ]
    return plan


def current_model(store: Store) -> str | None:
    found = Models(store).current()
    return found[0] if found else None


# who holds a claim ----------------------------------------------------------------------

_HOST = socket.gethostname()
_PROC = Path("/proc/self/stat").exists()


def _started(pid: int) -> str | None:
    """The process's start time in clock ticks since boot, which tells a live process
    from a later one that reused its id (Linux); None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):  # a zombie nobody has reaped yet is as dead as can be
        return None
    return fields[19]


def this_owner() -> str:
    """This process as a claim owner: host, process id and start time."""
    pid = os.getpid()
    return f"{_HOST}:{pid}:{_started(pid) or 0}"


def owner_alive(owner: str) -> bool:
    """False when ``owner`` is a process on this host that is gone; True otherwise
    (another host's process is trusted until its lease runs out)."""
    host, _, rest = owner.partition(":")
    pid, _, started = rest.partition(":")
    if host != _HOST or not pid.isdigit() or not _PROC:
        return True
    return _started(int(pid)) == started
