from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import text

from digest.store import Due, Finished, Item, Store
from tests.conftest import NOW

DAY = date(2026, 11, 20)
LEASE = timedelta(minutes=30)


def alive(owner: str) -> bool:
    return owner != "dead"


def _subscribers(store: Store, n: int) -> list[int]:
    return [
        store.add_subscriber(f"r{i}@example.org", now=NOW, status="active").id for i in range(n)
    ]


def _owed(store: Store, now: object = NOW) -> list[int]:
    return store.owed(since=DAY, now=now, lease=LEASE, alive=alive)  # type: ignore[arg-type]


def _claim(store: Store, ids: list[int], owner: str = "me", now: object = NOW) -> list[int]:
    return [d.id for d in store.claim(ids, owner=owner, now=now, lease=LEASE, alive=alive)]  # type: ignore[arg-type]


ITEMS = (Item("main", "2401.00000", 0.9, "why"), Item("main", "2401.00001", 0.8, "why"))


def test_planning_records_the_batch_range_and_advances_the_subscriber(store: Store) -> None:
    (sid,) = _subscribers(store, 1)
    (did,) = store.plan([Due(sid, DAY, 2, 4)], now=NOW)
    (delivery,) = store.deliveries(day=DAY)
    assert (delivery.id, delivery.status) == (did, "pending")
    assert (delivery.after_batch_id, delivery.batch_id) == (2, 4)
    assert store.subscriber(sid).last_batch_id == 4  # type: ignore[union-attr]


def test_planning_the_same_day_twice_adds_nothing_and_moves_nothing(store: Store) -> None:
    (sid,) = _subscribers(store, 1)
    store.plan([Due(sid, DAY, None, 1)], now=NOW)
    assert store.plan([Due(sid, DAY, 1, 2)], now=NOW) == []
    assert len(store.deliveries(day=DAY)) == 1
    assert store.subscriber(sid).last_batch_id == 1  # type: ignore[union-attr]


def test_only_one_claim_wins(store: Store) -> None:
    a, b = _subscribers(store, 2)
    ids = store.plan([Due(a, DAY, None, 1), Due(b, DAY, None, 1)], now=NOW)
    assert _owed(store) == ids
    assert _claim(store, ids, "one") == ids
    assert _claim(store, ids, "two") == []
    assert _owed(store) == []


def test_finishing_records_items_and_sent_is_final(store: Store) -> None:
    a, b = _subscribers(store, 2)
    first, second = store.plan([Due(a, DAY, None, 1), Due(b, DAY, None, 1)], now=NOW)
    _claim(store, [first, second])
    done = store.finish(
        [
            Finished(first, "sent", ITEMS, message_id="<m@x>"),
            Finished(second, "failed", ITEMS, error="550 no such user"),
        ],
        owner="me",
        now=NOW,
    )
    assert done == 2
    assert [i.paper_id for i in store.items([first])[first]] == ["2401.00000", "2401.00001"]
    assert store.items([first])[first][0] == ITEMS[0]
    assert _owed(store, NOW + timedelta(days=1)) == []
    statuses = {d.subscriber_id: (d.status, d.error) for d in store.deliveries(day=DAY)}
    assert statuses == {a: ("sent", None), b: ("failed", "550 no such user")}


def test_a_live_owners_claim_waits_for_its_lease(store: Store) -> None:
    (sid,) = _subscribers(store, 1)
    ids = store.plan([Due(sid, DAY, None, 1)], now=NOW)
    _claim(store, ids, "other")
    assert _owed(store, NOW + timedelta(minutes=5)) == []
    assert _owed(store, NOW + timedelta(hours=1)) == ids
    assert _claim(store, ids, "me", NOW + timedelta(hours=1)) == ids
    (row,) = store.deliveries(day=DAY)
    assert (row.owner, row.attempts) == ("me", 2)


def test_a_dead_owners_claim_is_taken_over_at_once(store: Store) -> None:
    (sid,) = _subscribers(store, 1)
    ids = store.plan([Due(sid, DAY, None, 1)], now=NOW)
    _claim(store, ids, "dead")
    assert _owed(store, NOW + timedelta(seconds=1)) == ids
    assert _claim(store, ids, "me", NOW + timedelta(seconds=1)) == ids


def test_a_row_taken_over_is_not_finished_by_its_old_owner(store: Store) -> None:
    (sid,) = _subscribers(store, 1)
    ids = store.plan([Due(sid, DAY, None, 1)], now=NOW)
    _claim(store, ids, "dead")
    _claim(store, ids, "me", NOW + timedelta(seconds=1))
    assert store.finish([Finished(ids[0], "sent")], owner="dead", now=NOW) == 0
    assert store.finish([Finished(ids[0], "sent")], owner="me", now=NOW) == 1


def test_owed_rows_of_older_days_are_found_only_when_asked(store: Store) -> None:
    (sid,) = _subscribers(store, 1)
    old = DAY - timedelta(days=30)
    ids = store.plan([Due(sid, old, None, 1)], now=NOW)
    assert _owed(store) == []
    assert store.owed(since=DAY, days=[old], now=NOW, lease=LEASE, alive=alive) == ids


def test_a_renewed_claim_holds_for_another_lease(store: Store) -> None:
    (sid,) = _subscribers(store, 1)
    ids = store.plan([Due(sid, DAY, None, 1)], now=NOW)
    _claim(store, ids, "other")
    assert store.renew(ids, owner="other", now=NOW + timedelta(minutes=25)) == 1
    assert store.renew(ids, owner="me", now=NOW + timedelta(minutes=25)) == 0
    assert _owed(store, NOW + timedelta(minutes=40)) == []
    assert _claim(store, ids, "me", NOW + timedelta(minutes=40)) == []
    assert _claim(store, ids, "me", NOW + timedelta(minutes=56)) == ids


def test_a_stale_row_taken_over_once_is_not_taken_over_again(store: Store) -> None:
    a, b = _subscribers(store, 2)
    ids = store.plan([Due(a, DAY, None, 1), Due(b, DAY, None, 1)], now=NOW)
    _claim(store, ids, "dead")
    later = NOW + timedelta(seconds=1)
    assert _claim(store, ids[:1], "one", later) == ids[:1]
    assert _claim(store, ids, "two", later) == ids[1:]


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_claim_skips_rows_another_claim_has_locked(store: Store) -> None:
    """PostgreSQL: rows another transaction is claiming are left to it at once,
    not waited for."""
    a, b = _subscribers(store, 2)
    ids = store.plan([Due(a, DAY, None, 1), Due(b, DAY, None, 1)], now=NOW)
    claimed: list[list[int]] = []
    with store.engine.connect() as other:
        other.execute(text("SELECT id FROM deliveries WHERE id = :i FOR UPDATE"), {"i": ids[0]})
        claim = threading.Thread(target=lambda: claimed.append(_claim(store, ids, "me")))
        claim.start()
        claim.join(timeout=5)
        blocked = claim.is_alive()
        other.rollback()
        claim.join()
    assert not blocked, "the claim waited for the locked row"
    assert claimed == [ids[1:]]
    assert _claim(store, ids, "you") == ids[:1]
