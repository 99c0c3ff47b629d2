from __future__ import annotations

from datetime import date, timedelta

from digest.store import Item, Planned, Store
from tests.conftest import NOW

DAY = date(2026, 11, 20)


def _subscribers(store: Store, n: int) -> list[int]:
    return [
        store.add_subscriber(f"r{i}@example.org", now=NOW, status="active").id for i in range(n)
    ]


def _planned(sid: int, batch: int = 1, items: int = 2) -> Planned:
    return Planned(
        sid,
        DAY,
        batch,
        tuple(Item("main", f"2401.0000{i}", 1.0 - i / 10, "why") for i in range(items)),
    )


def test_planning_records_items_and_advances_the_subscriber(store: Store) -> None:
    (sid,) = _subscribers(store, 1)
    assert store.plan([_planned(sid, batch=4)], now=NOW) == 1
    (delivery,) = store.deliveries(day=DAY)
    assert delivery.status == "pending"
    assert [i.paper_id for i in store.items([delivery.id])[delivery.id]] == [
        "2401.00000",
        "2401.00001",
    ]
    assert store.subscriber(sid).last_batch_id == 4  # type: ignore[union-attr]


def test_planning_the_same_day_twice_adds_nothing(store: Store) -> None:
    (sid,) = _subscribers(store, 1)
    store.plan([_planned(sid)], now=NOW)
    assert store.plan([_planned(sid)], now=NOW) == 0
    assert len(store.deliveries(day=DAY)) == 1


def test_an_empty_digest_is_recorded_but_not_owed(store: Store) -> None:
    (sid,) = _subscribers(store, 1)
    store.plan([_planned(sid, items=0)], now=NOW)
    assert store.deliveries(day=DAY)[0].status == "empty"
    assert store.to_send(DAY, now=NOW) == []


def test_only_one_claim_wins(store: Store) -> None:
    (sid,) = _subscribers(store, 1)
    store.plan([_planned(sid)], now=NOW)
    (owed,) = store.to_send(DAY, now=NOW)
    assert store.claim(owed, now=NOW)
    assert not store.claim(owed, now=NOW)
    assert store.to_send(DAY, now=NOW) == []


def test_sent_is_final_and_failed_is_not_owed(store: Store) -> None:
    a, b = _subscribers(store, 2)
    store.plan([_planned(a), _planned(b)], now=NOW)
    first, second = store.to_send(DAY, now=NOW)
    store.claim(first, now=NOW)
    store.finish(first.id, "sent", now=NOW, message_id="<m@x>")
    store.claim(second, now=NOW)
    store.finish(second.id, "failed", now=NOW, error="550 no such user")
    assert store.to_send(DAY, now=NOW + timedelta(days=1)) == []
    statuses = {d.subscriber_id: (d.status, d.error) for d in store.deliveries(day=DAY)}
    assert statuses == {a: ("sent", None), b: ("failed", "550 no such user")}


def test_a_claim_abandoned_by_a_crash_is_owed_again_after_the_lease(store: Store) -> None:
    (sid,) = _subscribers(store, 1)
    store.plan([_planned(sid)], now=NOW)
    (owed,) = store.to_send(DAY, now=NOW)
    store.claim(owed, now=NOW)
    assert store.to_send(DAY, now=NOW + timedelta(minutes=5)) == []
    (again,) = store.to_send(DAY, now=NOW + timedelta(hours=1))
    assert again.attempts == 1
    assert store.claim(again, now=NOW + timedelta(hours=1))
