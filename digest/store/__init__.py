"""The one door to stored state: every database read and write goes through ``Store``."""

from __future__ import annotations

from digest.store.ledger import Delivery, Item, LedgerStore, Planned
from digest.store.papers import PaperStore, SourceState, Validators
from digest.store.people import PeopleStore, UnknownSubscriber


class Store(PaperStore, PeopleStore, LedgerStore):
    """Papers, batches and sources; subscribers and profiles; the send ledger."""


__all__ = [
    "Delivery",
    "Item",
    "Planned",
    "SourceState",
    "Store",
    "UnknownSubscriber",
    "Validators",
]
