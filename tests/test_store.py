from __future__ import annotations

from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from digest.models import Paper, Profile
from digest.store import Store
from digest.tables import metadata
from tests.conftest import NOW


def paper(pid: str, title: str = "Sparse attention at scale", **kw: object) -> Paper:
    return Paper(id=pid, title=title, abstract=kw.pop("abstract", "An abstract."), **kw)  # type: ignore[arg-type]


def test_migrations_create_the_schema_the_code_declares(store: Store) -> None:
    names = set(inspect(store.engine).get_table_names())
    assert {"sources", "papers", "batches", "subscribers", "profiles", "deliveries"} <= names
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_reopening_an_existing_database_keeps_its_papers(store: Store, settings) -> None:
    batch = store.new_batch(NOW, ["s"])
    store.add_papers(batch, [paper("2401.00001")], now=NOW)
    again = Store.open(settings.db_url)
    assert [p.id for p in again.papers()] == ["2401.00001"]
    again.close()


def test_same_papers_twice_make_an_empty_second_batch(store: Store) -> None:
    first = store.new_batch(NOW, ["s"])
    assert store.add_papers(
        first, [paper("2401.00001"), paper("2401.00002", "Other")], now=NOW
    ) == (2, 0)
    second = store.new_batch(NOW, ["s"])
    assert store.add_papers(
        second, [paper("2401.00001"), paper("2401.00002", "Other")], now=NOW
    ) == (0, 0)
    assert store.close_batch(second).size == 0
    assert store.close_batch(first).size == 2


def test_newer_version_updates_the_row_instead_of_duplicating(store: Store) -> None:
    b1 = store.new_batch(NOW, ["s"])
    store.add_papers(b1, [paper("2401.00001", "Old title", version=1)], now=NOW)
    b2 = store.new_batch(NOW + timedelta(days=1), ["s"])
    later = NOW + timedelta(days=1)
    assert store.add_papers(b2, [paper("2401.00001", "New title", version=2)], now=later) == (0, 1)
    (stored,) = store.papers()
    assert (stored.title, stored.version) == ("New title", 2)
    assert store.papers(batch_id=b2) == []


def test_older_version_does_not_overwrite_a_newer_one(store: Store) -> None:
    b1 = store.new_batch(NOW, ["s"])
    store.add_papers(b1, [paper("2401.00001", "New title", version=3)], now=NOW)
    assert store.add_papers(b1, [paper("2401.00001", "Old title", version=1)], now=NOW) == (0, 0)
    assert store.papers()[0].title == "New title"


def test_journal_paper_and_arxiv_preprint_with_one_doi_are_one_row(store: Store) -> None:
    b = store.new_batch(NOW, ["s"])
    store.add_papers(b, [paper("doi:10.1000/xyz", "A result", doi="10.1000/xyz")], now=NOW)
    store.add_papers(b, [paper("2401.00009", "A Result!", doi="10.1000/xyz")], now=NOW)
    (stored,) = store.papers()
    assert stored.id == "2401.00009"


def test_title_fingerprint_merges_an_untitled_page_entry(store: Store) -> None:
    b = store.new_batch(NOW, ["s"])
    store.add_papers(b, [paper("title:abc", "Diffusion Models: A Survey")], now=NOW)
    assert store.add_papers(b, [paper("2401.00003", "diffusion models — a survey")], now=NOW) == (
        0,
        1,
    )
    assert [p.id for p in store.papers()] == ["2401.00003"]


def test_two_arxiv_papers_with_the_same_title_stay_apart(store: Store) -> None:
    b = store.new_batch(NOW, ["s"])
    store.add_papers(b, [paper("2401.00001", "Introduction")], now=NOW)
    assert store.add_papers(b, [paper("2401.00002", "Introduction")], now=NOW) == (1, 0)


def test_a_failed_source_cannot_change_stored_papers(store: Store) -> None:
    b = store.new_batch(NOW, ["s"])
    store.add_papers(b, [paper("2401.00001", "Kept", version=1)], now=NOW)
    result = store.add_papers(
        b,
        [paper("2401.00001", "Garbled", version=2), paper("2401.00005", "New")],
        now=NOW,
        update_existing=False,
    )
    assert result == (1, 0)
    assert store.get_papers(["2401.00001"])["2401.00001"].title == "Kept"


def test_iter_papers_streams_everything_in_order(store: Store) -> None:
    b = store.new_batch(NOW, ["s"])
    store.add_papers(b, [paper(f"2401.{i:05d}", f"Paper {i}") for i in range(25)], now=NOW)
    assert [p.id for p in store.iter_papers(chunk=7)] == [f"2401.{i:05d}" for i in range(25)]


def test_a_deleted_subscribers_id_is_never_given_to_anyone_else(store: Store) -> None:
    ada = store.add_subscriber("ada@example.org", now=NOW, status="active")
    bob = store.add_subscriber("bob@example.org", now=NOW, status="active")
    store.save_profiles(bob.id, [Profile(name="p", keywords=["graph"])], now=NOW)
    store.delete_subscriber(bob.id, now=NOW)
    assert store.subscriber(bob.id) is None and store.subscriber("bob@example.org") is None
    assert [s.email for s in store.subscribers()] == ["ada@example.org"]
    assert store.subscribers_by_id([ada.id, bob.id]).keys() == {ada.id}
    assert store.profiles(bob.id) == []
    again = store.add_subscriber("bob@example.org", now=NOW)
    assert again.id not in (ada.id, bob.id)


def test_an_import_that_fails_part_way_stores_nobody(store: Store) -> None:
    from sqlalchemy.exc import CompileError

    from digest.profiles import SubscriberFile

    fields = SubscriberFile(
        email="bo@example.org", profiles=[Profile(name="p")]
    ).subscriber_fields()
    ada = store.add_subscriber("ada@example.org", now=NOW, status="active")
    store.save_profiles(ada.id, [Profile(name="before")], now=NOW)
    with pytest.raises(CompileError):  # bo is inserted first, then ada's update fails
        store.import_subscribers(
            [
                ("bo@example.org", fields, [Profile(name="p")]),
                ("ada@example.org", {**fields, "no_such_column": 1}, [Profile(name="after")]),
            ],
            now=NOW,
        )
    assert store.subscriber("bo@example.org") is None
    assert [p.name for p in store.profiles(ada.id)] == ["before"]
