"""The one door to stored state: every database read and write goes through ``Store``."""

from __future__ import annotations

from digest.store.claims import ClaimStore
from digest.store.feeds import FeedStore
from digest.store.ledger import Delivery, Due, Finished, Item, LedgerStore
from digest.store.locks import Exclusive, LockStore
from digest.store.papers import PaperStore, SourceState, Validators
from digest.store.people import PeopleStore, UnknownSubscriber
from digest.store.quota import QuotaStore
from digest.store.suppression import Suppression, SuppressionStore
from digest.store.vectors import VectorStore


class Store(
    PaperStore,
    PeopleStore,
    LedgerStore,
    ClaimStore,
    VectorStore,
    FeedStore,
    LockStore,
    QuotaStore,
    SuppressionStore,
):
    """Papers, batches and sources; subscribers and profiles; the send ledger and its
    claims; the text model, embeddings and cached profile vectors; feed fragments;
    process-wide locks; sending quotas; bounces, complaints and the suppression list."""


__all__ = [
    "Delivery",
    "Due",
    "Exclusive",
    "Finished",
    "Item",
    "SourceState",
    "Store",
    "Suppression",
    "UnknownSubscriber",
    "Validators",
]
