"""Stored sources (with their HTTP validators), batches and papers."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, or_, select, update
from sqlalchemy.engine import Row

from digest.identity import title_fingerprint
from digest.models import Batch, Paper
from digest.store.base import StoreBase
from digest.tables import batches, papers, sources

WEAK_ID_PREFIXES = ("title:", "doi:", "http:", "https:")
NEW, CROSS, REPLACE = "new", "cross", "replace"
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Validators:
    """HTTP cache validators remembered for one source."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class SourceState:
    name: str
    location: str
    validators: Validators
    last_fetched_at: datetime | None
    last_status: str | None
    last_error: str | None


def _paper_from_row(row: Row[Any]) -> Paper:
    m = row._mapping
    return Paper(
        id=m["id"],
        title=m["title"],
        abstract=m["abstract"],
        authors=tuple(m["authors"]),
        categories=tuple(m["categories"]),
        published=m["published"],
        url=m["url"],
        source=m["source"],
        doi=m["doi"],
        version=m["version"],
        upvotes=m["upvotes"],
        comment=m["comment"],
        announce=m["announce"],
    )


def _paper_values(paper: Paper) -> dict[str, Any]:
    return {
        "id": paper.id,
        "title": paper.title,
        "abstract": paper.abstract,
        "authors": list(paper.authors),
        "categories": list(paper.categories),
        "published": paper.published,
        "url": paper.url,
        "source": paper.source,
        "doi": paper.doi,
        "version": paper.version,
        "upvotes": paper.upvotes,
        "comment": paper.comment,
        "announce": paper.announce,
        "fingerprint": title_fingerprint(paper.title),
    }


def _changes(old: Paper, new: Paper) -> dict[str, Any]:
    """What ``new`` should change in the stored ``old``: a newer version replaces the
    text; any source may fill in what is missing or refresh counters."""
    values: dict[str, Any] = {}
    newer = new.version is not None and (old.version is None or new.version > old.version)
    if newer:
        fresh = _paper_values(new)
        values = {k: v for k, v in fresh.items() if k not in ("id", "source") and v}
        values["version"] = new.version
    else:
        for field in ("abstract", "doi", "published", "comment", "url"):
            if not getattr(old, field) and getattr(new, field):
                values[field] = getattr(new, field)
        if not old.authors and new.authors:
            values["authors"] = list(new.authors)
        if not old.categories and new.categories:
            values["categories"] = list(new.categories)
    if new.upvotes is not None and new.upvotes != old.upvotes:
        values["upvotes"] = new.upvotes
    if not _is_strong(old.id) and _is_strong(new.id):
        values["id"] = new.id
    return {k: v for k, v in values.items() if _differs(old, k, v)}


def _differs(old: Paper, field: str, value: Any) -> bool:
    current = getattr(old, field, None)
    if isinstance(current, tuple):
        current = list(current)
    return bool(current != value)


class PaperStore(StoreBase):
    """Sources, batches and papers."""

    # sources -----------------------------------------------------------------

    def source_state(self, name: str) -> SourceState | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(sources).where(sources.c.name == name)).first()
        if row is None:
            return None
        m = row._mapping
        return SourceState(
            name=m["name"],
            location=m["location"],
            validators=Validators(m["etag"], m["last_modified"]),
            last_fetched_at=m["last_fetched_at"],
            last_status=m["last_status"],
            last_error=m["last_error"],
        )

    def failed_sources(self) -> list[str]:
        """Names of the sources whose last fetch failed."""
        query = select(sources.c.name).where(sources.c.last_status == "error")
        with self.engine.connect() as conn:
            return [row[0] for row in conn.execute(query.order_by(sources.c.name))]

    def record_source(
        self,
        name: str,
        location: str,
        *,
        now: datetime,
        status: str,
        error: str | None = None,
        validators: Validators | None = None,
    ) -> None:
        """Remember how a fetch went; validators change only when given (a success)."""
        values: dict[str, Any] = {
            "location": location,
            "last_fetched_at": now,
            "last_status": status,
            "last_error": error,
        }
        if validators is not None:
            values["etag"] = validators.etag
            values["last_modified"] = validators.last_modified
        with self.engine.begin() as conn:
            done = conn.execute(update(sources).where(sources.c.name == name).values(**values))
            if done.rowcount == 0:
                conn.execute(sources.insert().values(name=name, **values))

    # batches and papers ------------------------------------------------------

    def new_batch(self, now: datetime, source_names: Sequence[str]) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                batches.insert().values(created_at=now, sources=list(source_names), size=0)
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def close_batch(self, batch_id: int) -> Batch:
        with self.engine.begin() as conn:
            size = conn.execute(
                select(func.count()).select_from(papers).where(papers.c.batch_id == batch_id)
            ).scalar_one()
            conn.execute(update(batches).where(batches.c.id == batch_id).values(size=size))
            row = conn.execute(select(batches).where(batches.c.id == batch_id)).one()
        return _batch_from_row(row)

    def close_open_batches(self) -> int:
        """Record the size of batches a killed collect left open (its papers were
        stored, its size never was). Returns how many papers they hold."""
        open_ids = select(batches.c.id).where(batches.c.size == 0)
        with self.engine.begin() as conn:
            counts = conn.execute(
                select(papers.c.batch_id, func.count())
                .where(papers.c.batch_id.in_(open_ids))
                .group_by(papers.c.batch_id)
            ).all()
            for batch_id, count in counts:
                conn.execute(update(batches).where(batches.c.id == batch_id).values(size=count))
        return sum(int(count) for _, count in counts)

    def latest_batch_id(self) -> int | None:
        with self.engine.connect() as conn:
            value = conn.execute(select(func.max(batches.c.id))).scalar()
        return int(value) if value is not None else None

    def add_papers(
        self,
        batch_id: int,
        new_papers: Iterable[Paper],
        *,
        now: datetime,
        update_existing: bool = True,
    ) -> tuple[int, int]:
        """Insert unseen papers into ``batch_id``; update known ones. Returns (new, updated).

        A paper is known when its id, DOI, link or title fingerprint matches a stored
        row, in that order. Everything happens in one transaction.
        """
        unique = _dedupe(new_papers)
        inserted = updated = 0
        with self.engine.begin() as conn:
            for start in range(0, len(unique), _CHUNK):
                chunk = unique[start : start + _CHUNK]
                known = _find_known(conn, chunk)
                rows = []
                for paper in chunk:
                    match = known.get(paper.id)
                    if match is None:
                        values = _paper_values(paper)
                        values.update(batch_id=batch_id, first_seen=now, updated_at=now)
                        rows.append(values)
                    elif update_existing:
                        pk, old = match
                        changes = _changes(old, paper)
                        _keep_id_unique(conn, changes, pk)
                        if paper.announce == REPLACE and "version" in changes:
                            # a new version of a stored paper joins this batch, so
                            # that the readers who follow the paper hear of it
                            changes["batch_id"] = batch_id
                        if changes:
                            changes["updated_at"] = now
                            conn.execute(update(papers).where(papers.c.pk == pk).values(changes))
                            updated += 1
                if rows:
                    conn.execute(papers.insert(), rows)
                    inserted += len(rows)
        return inserted, updated

    def papers(self, *, batch_id: int | None = None, limit: int | None = None) -> list[Paper]:
        query = select(papers).order_by(papers.c.pk)
        if batch_id is not None:
            query = query.where(papers.c.batch_id == batch_id)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [_paper_from_row(r) for r in conn.execute(query)]

    def papers_since(self, after_batch_id: int | None, up_to_batch_id: int) -> list[Paper]:
        """Papers first seen in batches ``(after_batch_id, up_to_batch_id]``."""
        query = select(papers).where(papers.c.batch_id <= up_to_batch_id)
        if after_batch_id is not None:
            query = query.where(papers.c.batch_id > after_batch_id)
        with self.engine.connect() as conn:
            return [_paper_from_row(r) for r in conn.execute(query.order_by(papers.c.pk))]

    def recent_papers(self, limit: int) -> list[Paper]:
        """The newest ``limit`` papers, oldest first."""
        query = select(papers).order_by(papers.c.pk.desc()).limit(limit)
        with self.engine.connect() as conn:
            found = [_paper_from_row(r) for r in conn.execute(query)]
        return found[::-1]

    def iter_papers(self, chunk: int = 5000) -> Iterator[Paper]:
        """Every stored paper, oldest first, without holding them all in memory."""
        last = 0
        while True:
            query = select(papers).where(papers.c.pk > last).order_by(papers.c.pk).limit(chunk)
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
            if not rows:
                return
            last = rows[-1]._mapping["pk"]
            yield from (_paper_from_row(r) for r in rows)

    def get_papers(self, ids: Iterable[str]) -> dict[str, Paper]:
        wanted = list(dict.fromkeys(ids))
        found: dict[str, Paper] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), _CHUNK):
                query = select(papers).where(papers.c.id.in_(wanted[start : start + _CHUNK]))
                found.update((p.id, p) for p in map(_paper_from_row, conn.execute(query)))
        return found

    def count_papers(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(papers)).scalar_one())


def _batch_from_row(row: Row[Any]) -> Batch:
    m = row._mapping
    return Batch(
        id=m["id"], created_at=m["created_at"], size=m["size"], sources=tuple(m["sources"])
    )


def _dedupe(items: Iterable[Paper]) -> list[Paper]:
    """Within one input, keep one paper per id (the highest version wins)."""
    best: dict[str, Paper] = {}
    for paper in items:
        old = best.get(paper.id)
        if old is None or (paper.version or 0) > (old.version or 0):
            best[paper.id] = paper
    return list(best.values())


def _find_known(conn: Connection, chunk: Sequence[Paper]) -> dict[str, tuple[int, Paper]]:
    """Map each incoming paper id to the stored row it duplicates, if any."""
    ids = [p.id for p in chunk]
    dois = [p.doi for p in chunk if p.doi]
    urls = [p.url for p in chunk if p.url]
    prints = {title_fingerprint(p.title): p.id for p in chunk}
    query = select(papers).where(
        or_(
            papers.c.id.in_(ids),
            papers.c.doi.in_(dois),
            papers.c.url.in_(urls),
            papers.c.fingerprint.in_(list(prints)),
        )
    )
    by_id: dict[str, tuple[int, Paper]] = {}
    by_doi: dict[str, tuple[int, Paper]] = {}
    by_url: dict[str, tuple[int, Paper]] = {}
    by_print: dict[str, tuple[int, Paper]] = {}
    for row in conn.execute(query):
        stored = (row._mapping["pk"], _paper_from_row(row))
        by_id[stored[1].id] = stored
        if stored[1].doi:
            by_doi.setdefault(stored[1].doi, stored)
        if stored[1].url:
            by_url.setdefault(stored[1].url, stored)
        by_print.setdefault(row._mapping["fingerprint"], stored)
    known: dict[str, tuple[int, Paper]] = {}
    for paper in chunk:
        weaker = (
            by_doi.get(paper.doi) if paper.doi else None,
            by_url.get(paper.url) if paper.url else None,
            by_print.get(title_fingerprint(paper.title)),
        )
        match = by_id.get(paper.id) or next(
            (m for m in weaker if m is not None and _compatible(paper, m[1])), None
        )
        if match is not None:
            known[paper.id] = match
    return known


def _is_strong(paper_id: str) -> bool:
    return not paper_id.startswith(WEAK_ID_PREFIXES)


def _compatible(new: Paper, old: Paper) -> bool:
    """Two papers with different arXiv ids or different DOIs are never the same paper,
    however alike their titles or links."""
    if _is_strong(new.id) and _is_strong(old.id) and new.id != old.id:
        return False
    return not (new.doi and old.doi and new.doi != old.doi)


def _keep_id_unique(conn: Connection, changes: dict[str, Any], pk: int) -> None:
    """A stronger id may replace a weaker one only if no other row already has it."""
    new_id = changes.get("id")
    if new_id is None:
        return
    taken = conn.execute(select(papers.c.pk).where(papers.c.id == new_id)).first()
    if taken is not None and taken[0] != pk:
        del changes["id"]
