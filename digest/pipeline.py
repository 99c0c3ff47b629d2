"""The day's stages wired together: collect → decide (score) → write (render, deliver).

Two passes, as the ledger needs: :func:`decide` works out every due digest (who gets
which papers, and why) without writing anything; :func:`write` records and sends
them, each claimed in the send ledger first so that reruns and parallel processes
never send a digest twice."""

from __future__ import annotations

import json
import pickle
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from digest.collect import CollectReport, collect
from digest.deliver import Mailer, make_mailer, message_id_for, send_with_retry
from digest.due import due_day, sends_on
from digest.identity import parse_arxiv_id
from digest.links import LinkMaker
from digest.mime import Letterhead, Message
from digest.models import (
    Digest,
    DigestSection,
    Paper,
    Profile,
    ScoredPaper,
    SourceReport,
    Subscriber,
)
from digest.profiles import SubscriberFile
from digest.rank import profile_vectors
from digest.render import Rendered, Renderer
from digest.score import assign_sections, rank_batch
from digest.settings import Settings, SourceSettings
from digest.sources import Source, make_source
from digest.sources.formats import parse
from digest.store import Store
from digest.store.ledger import (
    CANCELLED,
    DEFERRED,
    FAILED,
    FEED_ONLY,
    PENDING,
    SENDING,
    SENT,
    Delivery,
    Item,
    Planned,
)
from digest.textmodel import TextModel
from digest.tokens import Tokens


def open_store(settings: Settings) -> Store:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return Store.open(settings.db_url)


def sample_sources() -> list[SourceSettings]:
    """The real feeds shipped with the package, for the demo and first runs."""
    folder = Path(str(resources.files("digest") / "samples"))
    return [
        SourceSettings(name=f"sample:{path.stem}", location=str(path))
        for path in sorted(folder.iterdir())
        if path.suffix in (".xml", ".json", ".jsonl")
    ]


def adhoc_sources(locations: Sequence[str], format: str | None) -> list[SourceSettings]:
    return [
        SourceSettings(name=location, location=location, format=format)  # type: ignore[arg-type]
        for location in locations
    ]


def collect_sources(
    store: Store,
    settings: Settings,
    configs: Sequence[SourceSettings],
    *,
    now: datetime,
    on_source: Callable[[SourceReport], None] | None = None,
) -> CollectReport:
    with httpx.Client(timeout=settings.http.timeout, follow_redirects=True) as client:
        sources: list[Source] = [
            make_source(c, settings.http, client) for c in configs if c.enabled
        ]
        return collect(store, sources, now=now, on_source=on_source)


def import_subscriber(store: Store, sub: SubscriberFile, *, now: datetime) -> None:
    """Create or update the subscriber and replace their profiles, all or nothing."""
    existing = store.subscriber(sub.email)
    if existing is None:
        existing = store.add_subscriber(sub.email, now=now, status="active")
    store.save_profiles(
        existing.id, sub.profiles, now=now, subscriber_fields=sub.subscriber_fields()
    )


def export_subscriber(store: Store, email: str) -> SubscriberFile | None:
    sub = store.subscriber(email)
    if sub is None:
        return None
    return SubscriberFile(
        email=sub.email,
        send_hour=sub.send_hour,
        timezone=sub.timezone,
        cadence=sub.cadence,  # type: ignore[arg-type]
        weekdays=list(sub.weekdays),
        channels=list(sub.channels),  # type: ignore[arg-type]
        profiles=store.profiles(sub.id),
    )


# the day: decide, then write ---------------------------------------------------------

MODEL_KEY = "textmodel"
MODEL_PAPERS = 40_000
REFIT_GROWTH = 1.25


def text_model(store: Store, *, now: datetime, force: bool = False) -> TextModel | None:
    """The stored text model, refitted when the corpus has grown by a quarter since it
    was fitted (on the newest ``MODEL_PAPERS`` papers). None with no papers at all."""
    count = store.count_papers()
    if count == 0:
        return None
    blob = None if force else store.get_blob(MODEL_KEY)
    if blob is not None:
        try:
            model = TextModel.from_bytes(blob)
        except (TypeError, ValueError, EOFError, pickle.UnpicklingError, AttributeError):
            model = None
        if model is not None and count <= model.fitted_on * REFIT_GROWTH:
            return model
    recent = list(store.iter_papers())[-MODEL_PAPERS:]
    model = TextModel.fit(recent)
    store.put_blob(MODEL_KEY, model.to_bytes(), now=now)
    return model


def known_papers(store: Store, ids: Iterable[str]) -> dict[str, Paper]:
    """Stored papers by id, plus seed papers fetched from the arXiv API for profiles."""
    wanted = list(dict.fromkeys(ids))
    found = store.get_papers(wanted)
    for pid in wanted:
        if pid not in found:
            blob = store.get_blob(f"seed:{pid}")
            if blob is not None:
                found[pid] = Paper(**_paper_fields(json.loads(blob)))
    return found


def _paper_fields(data: dict[str, Any]) -> dict[str, Any]:
    fields = dict(data)
    fields["authors"] = tuple(fields.get("authors", ()))
    fields["categories"] = tuple(fields.get("categories", ()))
    if fields.get("published"):
        fields["published"] = date.fromisoformat(fields["published"])
    return fields


def _referenced(profiles: Iterable[Profile]) -> set[str]:
    ids: set[str] = set()
    for p in profiles:
        ids.update(s.id for s in p.seed_papers if s.id)
        ids.update(p.liked)
        ids.update(p.disliked)
    return ids


def rank_for(
    model: TextModel,
    papers: Sequence[Paper],
    owners: Mapping[int, Sequence[Profile]],
    known: Mapping[str, Paper],
) -> dict[int, list[DigestSection]]:
    """Every owner's sections for ``papers``: all profiles in one vectorised pass, a
    paper shown once per owner (in the profile that scored it best), and never a paper
    the owner already named as a seed or gave feedback on."""
    flat = [(sid, p) for sid, profiles in owners.items() for p in profiles]
    if not flat or not papers:
        return {sid: [] for sid in owners}
    vectors, seeds = profile_vectors([p for _, p in flat], model, known)
    ranking = rank_batch(vectors, papers, model.embed(papers), seeds=seeds)
    by_owner: dict[int, list[tuple[str, list[ScoredPaper]]]] = {sid: [] for sid in owners}
    for row, (sid, profile) in enumerate(flat):
        seen = _referenced([profile])
        picks = [sp for sp in ranking.picks(row) if sp.paper.id not in seen]
        by_owner[sid].append((profile.name, picks))
    return {
        sid: [DigestSection(name, tuple(picks)) for name, picks in assign_sections(ranked)]
        for sid, ranked in by_owner.items()
    }


@dataclass(slots=True)
class DayReport:
    """What a run decided and wrote; ``failed`` holds (email, reason) pairs."""

    collected: CollectReport | None = None
    due: int = 0
    decided: int = 0
    empty: int = 0
    sent: int = 0
    feed_only: int = 0
    deferred: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    feeds: list[Path] = field(default_factory=list)
    dry_run: bool = False
    previews: dict[str, Digest] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed and (self.collected is None or not self.collected.failed)


def decide(
    store: Store,
    settings: Settings,
    *,
    now: datetime,
    day: date | None = None,
    only: str | None = None,
) -> list[Planned]:
    """Pass one: who is due, and which new papers each of them gets, and why.

    ``day`` forces that local day for every subscriber (whatever the hour); otherwise a
    subscriber is due once their local ``send_hour`` has come. Papers are those first
    seen since the subscriber's last digest. Nothing is written."""
    latest = store.latest_batch_id()
    if latest is None:
        return []
    subs = store.subscribers(status="active")
    if only is not None:
        subs = [s for s in subs if s.email == only.lower()]
    due: list[tuple[Subscriber, date]] = []
    for sub in subs:
        when = (day if sends_on(sub, day) else None) if day is not None else due_day(sub, now)
        if when is not None and sub.channels:
            due.append((sub, when))
    taken = {
        (d.subscriber_id, d.day) for when in {w for _, w in due} for d in store.deliveries(day=when)
    }
    due = [(s, w) for s, w in due if (s.id, w) not in taken]
    if not due:
        return []
    model = text_model(store, now=now)
    if model is None:
        return []
    profiles = store.profiles_of(s.id for s, _ in due)
    groups: dict[int | None, list[tuple[Subscriber, date]]] = {}
    for sub, when in due:
        groups.setdefault(sub.last_batch_id, []).append((sub, when))
    planned: list[Planned] = []
    for after, members in groups.items():
        if after is not None and after >= latest:
            papers: list[Paper] = []
        else:
            papers = store.papers_since(after, latest)
        owners = {s.id: profiles.get(s.id, []) for s, _ in members}
        known = known_papers(store, _referenced(p for ps in owners.values() for p in ps))
        sections = rank_for(model, papers, owners, known)
        for sub, when in members:
            items = tuple(
                Item(s.profile, sp.paper.id, sp.score, sp.why)
                for s in sections.get(sub.id, [])
                for sp in s.papers
            )
            planned.append(Planned(sub.id, when, latest, items))
    return planned


def _digest(
    store: Store, links: LinkMaker, sub: Subscriber, delivery: Delivery, items: Sequence[Item]
) -> Digest:
    papers = store.get_papers(i.paper_id for i in items)
    return Digest(
        sub.email, delivery.day, _sections(items, papers), links.links(sub.id, delivery.id)
    )


def _sections(items: Sequence[Item], papers: Mapping[str, Paper]) -> tuple[DigestSection, ...]:
    sections: dict[str, list[ScoredPaper]] = {}
    for item in items:
        paper = papers.get(item.paper_id)
        if paper is not None:
            sections.setdefault(item.profile, []).append(
                ScoredPaper(paper, item.score, item.why, item.profile)
            )
    return tuple(DigestSection(name, tuple(picks)) for name, picks in sections.items())


def link_maker(settings: Settings) -> LinkMaker:
    if settings.secret_key is None:
        raise MissingSecret("secret_key is not set: run `digest init`, or set DIGEST_SECRET_KEY")
    return LinkMaker(settings.web.base_url, Tokens(settings.secret_key.get_secret_value()))


class MissingSecret(RuntimeError):
    pass


def write(
    store: Store,
    settings: Settings,
    *,
    now: datetime,
    days: Iterable[date],
    mailer: Mailer | None = None,
    report: DayReport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DayReport:
    """Pass two: send every owed digest of ``days`` exactly once (claimed in the
    ledger first), and rewrite the reader's feed with it."""
    report = report or DayReport()
    links = link_maker(settings)
    renderer = Renderer(settings)
    letterhead = Letterhead(settings.mail, date=now.replace(tzinfo=UTC))
    owed = [d for day in sorted(set(days)) for d in store.to_send(day, now=now)]
    with mailer or make_mailer(settings) as out:
        for delivery in owed:
            if not store.claim(delivery, now=now):
                continue
            sub = store.subscriber(delivery.subscriber_id)
            if sub is None or sub.status != "active":
                store.finish(delivery.id, CANCELLED, now=now, error="no longer subscribed")
                continue
            items = store.items([delivery.id])[delivery.id]
            digest = _digest(store, links, sub, delivery, items)
            rss = "rss" in sub.channels
            if "email" in sub.channels:
                rendered = renderer.render(digest, items=rss)
                message = _message(letterhead, settings, delivery, digest, rendered)
                if isinstance(message, str):
                    store.finish(delivery.id, FAILED, now=now, error=message)
                    report.failed.append((sub.email, message))
                else:
                    _send(out, store, settings, delivery, message, report, now=now, sleep=sleep)
                fresh = rendered.items
            else:
                store.finish(delivery.id, FEED_ONLY, now=now)
                report.feed_only += 1
                fresh = renderer.feed_items(digest) if rss else None
            if fresh is not None:
                path = write_feed(
                    store,
                    settings,
                    sub,
                    links=links,
                    renderer=renderer,
                    fresh={delivery.day: fresh},
                )
                if path is not None:
                    report.feeds.append(path)
    return report


def _message(
    letterhead: Letterhead,
    settings: Settings,
    delivery: Delivery,
    digest: Digest,
    rendered: Rendered,
) -> Message | str:
    """The digest's message, or why it cannot be written (a header value with a line
    break, an address that cannot be written)."""
    try:
        return letterhead.message(
            to=digest.email,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            unsubscribe=digest.links.unsubscribe,
            archive=digest.links.archive,
            message_id=message_id_for(settings.mail, delivery.id, delivery.day),
        )
    except ValueError as exc:
        return f"bad message: {exc}"


def _send(
    out: Mailer,
    store: Store,
    settings: Settings,
    delivery: Delivery,
    message: Message,
    report: DayReport,
    *,
    now: datetime,
    sleep: Callable[[float], None],
) -> None:
    outcome = send_with_retry(
        out,
        message,
        retries=settings.mail.retries,
        backoff=settings.mail.retry_backoff,
        sleep=sleep,
    )
    if outcome.sent:
        store.finish(delivery.id, SENT, now=now, message_id=message.message_id)
        report.sent += 1
    elif outcome.temporary:
        store.finish(delivery.id, DEFERRED, now=now, error=outcome.error)
        report.deferred.append((message.to, outcome.error or ""))
    else:
        store.finish(delivery.id, FAILED, now=now, error=outcome.error)
        report.failed.append((message.to, outcome.error or ""))


def run_day(
    store: Store,
    settings: Settings,
    *,
    now: datetime,
    day: date | None = None,
    only: str | None = None,
    dry_run: bool = False,
    collect_first: bool = True,
    mailer: Mailer | None = None,
    on_source: Callable[[SourceReport], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DayReport:
    """The whole day: collect the configured sources, decide every due digest, then
    send them and refresh feeds. ``dry_run`` decides and renders but writes nothing."""
    report = DayReport(dry_run=dry_run)
    if collect_first and settings.sources and not dry_run:
        report.collected = collect_sources(
            store, settings, settings.sources, now=now, on_source=on_source
        )
    planned = decide(store, settings, now=now, day=day, only=only)
    report.due = len(planned)
    report.empty = sum(1 for p in planned if not p.items)
    if dry_run:
        links = link_maker(settings)
        for p in planned:
            sub = store.subscriber(p.subscriber_id)
            assert sub is not None
            fake = Delivery(0, sub.id, p.day, PENDING, 0, None, None, p.batch_id, None)
            report.previews[sub.email] = _digest(store, links, sub, fake, p.items)
        return report
    if not settings.mail.send_empty:
        report.decided = store.plan(planned, now=now)
    else:
        report.decided = store.plan(
            [Planned(p.subscriber_id, p.day, p.batch_id, p.items or ()) for p in planned],
            now=now,
        )
    days = {p.day for p in planned} | {
        now.date() - timedelta(days=1),
        now.date(),
        now.date() + timedelta(days=1),
    }
    return write(store, settings, now=now, days=days, mailer=mailer, report=report, sleep=sleep)


# feeds, previews and archives ----------------------------------------------------------


def feed_digests(
    store: Store, subscriber: Subscriber, settings: Settings, links: LinkMaker
) -> tuple[list[Digest], datetime | None]:
    """The reader's last ``digest_history`` digests, newest first, and when the newest
    was sent (None before the first)."""
    recent = [
        d
        for d in store.recent_deliveries(subscriber.id, settings.digest_history)
        if d.status in (SENT, FEED_ONLY, FAILED, DEFERRED, SENDING, PENDING)
    ]
    items = store.items(d.id for d in recent)
    papers = store.get_papers(i.paper_id for its in items.values() for i in its)
    shared = links.links(subscriber.id)
    digests = [
        Digest(subscriber.email, d.day, _sections(items[d.id], papers), shared) for d in recent
    ]
    updated = max(
        (d.sent_at or datetime.combine(d.day, datetime.min.time()) for d in recent), default=None
    )
    return digests, updated


def feed_xml(
    store: Store,
    settings: Settings,
    sub: Subscriber,
    *,
    links: LinkMaker | None = None,
    renderer: Renderer | None = None,
    fresh: Mapping[date, list[bytes]] | None = None,
) -> tuple[bytes, datetime | None]:
    """The personal RSS feed as UTF-8 (last ``digest_history`` digests, newest first)
    and when it last changed (None before the first digest). ``fresh``: feed items
    already rendered, by digest day."""
    links = links or link_maker(settings)
    renderer = renderer or Renderer(settings)
    digests, updated = feed_digests(store, sub, settings, links)
    fresh = fresh or {}
    xml = renderer.feed(
        email=sub.email,
        self_url=links.feed(sub.id),
        # the site, not a manage link: feeds are cached and shared, manage links expire
        link=settings.web.base_url,
        items=[fresh.get(d.day) or renderer.feed_items(d) for d in digests],
        updated=updated,
    )
    return xml, updated


def write_feed(
    store: Store,
    settings: Settings,
    sub: Subscriber,
    *,
    links: LinkMaker,
    renderer: Renderer,
    fresh: Mapping[date, list[bytes]] | None = None,
) -> Path | None:
    """Write the feed file a static web server can serve: ``feeds/<feed token>.rss``."""
    if "rss" not in sub.channels:
        return None
    xml, _ = feed_xml(store, settings, sub, links=links, renderer=renderer, fresh=fresh)
    folder = settings.data_dir / "feeds"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / links.feed(sub.id).rsplit("/", 1)[-1]
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(xml)
    tmp.replace(path)
    return path


def preview_sections(
    store: Store,
    settings: Settings,
    subscriber_id: int,
    profiles: Sequence[Profile],
    *,
    now: datetime,
) -> list[DigestSection]:
    """What the subscriber's next digest would hold with ``profiles``: the papers since
    their last digest, or the latest batch when nothing is new yet."""
    latest = store.latest_batch_id()
    model = text_model(store, now=now)
    if latest is None or model is None or not profiles:
        return []
    sub = store.subscriber(subscriber_id)
    after = sub.last_batch_id if sub is not None else None
    papers = store.papers_since(after, latest) if after is None or after < latest else []
    if not papers:
        papers = store.papers(batch_id=latest)
    known = known_papers(store, _referenced(profiles))
    return rank_for(model, papers, {subscriber_id: list(profiles)}, known)[subscriber_id]


def preview(store: Store, settings: Settings, email: str, *, now: datetime) -> str | None:
    """The HTML of the digest ``email`` would get now, without sending or recording it."""
    sub = store.subscriber(email)
    if sub is None:
        return None
    sections = preview_sections(store, settings, sub.id, store.profiles(sub.id), now=now)
    links = link_maker(settings)
    digest = Digest(sub.email, now.date(), tuple(sections), links.links(sub.id))
    return Renderer(settings).email(digest).html


def archive_html(
    store: Store, settings: Settings, subscriber_id: int, delivery_id: int
) -> str | None:
    """A decided digest as a web page; None unless it is this subscriber's."""
    delivery = store.delivery(delivery_id)
    sub = store.subscriber(subscriber_id)
    if delivery is None or sub is None or delivery.subscriber_id != subscriber_id:
        return None
    items = store.items([delivery.id])[delivery.id]
    digest = _digest(store, link_maker(settings), sub, delivery, items)
    return Renderer(settings).email(digest).html


def resolve_seed_ids(
    store: Store, settings: Settings, ids: Sequence[str], *, now: datetime | None = None
) -> tuple[list[str], list[str]]:
    """(ids usable as seed papers, ids neither stored nor found on the arXiv API).
    Papers fetched from the API are kept for scoring, not added to any batch."""
    wanted = [_seed_id(i) for i in ids if i.strip()]
    found = known_papers(store, wanted)
    missing = [i for i in wanted if i not in found]
    if missing:
        for paper in _fetch_arxiv(settings, missing):
            store.put_blob(
                f"seed:{paper.id}",
                json.dumps(paper.to_json()).encode(),
                now=now or datetime.now(UTC).replace(tzinfo=None),
            )
            found[paper.id] = paper
    return [i for i in wanted if i in found], [i for i in wanted if i not in found]


def _seed_id(text: str) -> str:
    parsed = parse_arxiv_id(text.strip())
    return parsed[0] if parsed else text.strip()


def _fetch_arxiv(settings: Settings, ids: Sequence[str]) -> list[Paper]:
    url = "https://export.arxiv.org/api/query"
    try:
        with httpx.Client(
            timeout=settings.http.timeout, headers={"User-Agent": settings.http.user_agent}
        ) as client:
            response = client.get(url, params={"id_list": ",".join(ids), "max_results": len(ids)})
            response.raise_for_status()
    except httpx.HTTPError:
        return []
    return parse(response.content, source="arxiv-api", format="feed").papers


# scheduled jobs -----------------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def scheduled_collect(settings: Settings) -> None:
    store = open_store(settings)
    try:
        collect_sources(store, settings, settings.sources, now=_utcnow())
    finally:
        store.close()


def scheduled_deliver(settings: Settings) -> None:
    store = open_store(settings)
    try:
        run_day(store, settings, now=_utcnow(), collect_first=False)
    finally:
        store.close()


# the demo -------------------------------------------------------------------------------


@dataclass(slots=True)
class DemoReport:
    data_dir: Path
    day: DayReport
    outbox: Path
    messages: int
    preview: Path


def demo(
    folder: Path | None, *, now: datetime, on_source: Callable[[SourceReport], None] | None = None
) -> DemoReport:
    """A whole day on the bundled samples in a throwaway folder, with two demo readers."""
    import mailbox
    import secrets
    import tempfile

    from digest.profiles import load_subscriber_file
    from digest.settings import load_settings

    data_dir = folder or Path(tempfile.mkdtemp(prefix="digest-demo-"))
    settings = load_settings(
        data_dir=data_dir,
        secret_key=secrets.token_urlsafe(32),
        sources=[s.model_dump() for s in sample_sources()],
        mail={"from_address": "digest@example.org"},
    )
    store = open_store(settings)
    try:
        demo_files = Path(str(resources.files("digest") / "samples" / "demo"))
        for path in sorted(demo_files.glob("*.toml")):
            import_subscriber(store, load_subscriber_file(path), now=now)
        report = run_day(store, settings, now=now, day=now.date(), on_source=on_source)
        first = store.subscribers(status="active")[0]
        html = preview(store, settings, first.email, now=now) or ""
    finally:
        store.close()
    preview_path = data_dir / "previews" / f"{first.email}.html"
    preview_path.parent.mkdir(parents=True, exist_ok=True)
    preview_path.write_text(html, encoding="utf-8")
    outbox = data_dir / "outbox"
    count = len(mailbox.Maildir(outbox, create=True))
    return DemoReport(data_dir, report, outbox, count, preview_path)
