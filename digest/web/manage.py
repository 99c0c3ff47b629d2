"""The manage page: a reader's profiles and settings, with a live preview."""

from __future__ import annotations

import logging

from fastapi import Request
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from digest import accounts
from digest.day import preview as previews
from digest.models import DigestSection, Paper, Profile, Status, Subscriber
from digest.web import forms, manage_form, rules
from digest.web.core import CheckedForm, LinkError, Posted, Web, web_of
from digest.web.mail import send_link_mail

log = logging.getLogger("digest.web")

PREVIEW_PAPERS = 10


def resolve_seeds(web: Web, ids: list[str]) -> tuple[list[str], list[str]]:
    known = web.store.get_papers(ids)
    unknown = [i for i in ids if i not in known]
    if not unknown:
        return ids, []
    found, missing = accounts.resolve_seed_ids(web.store, web.settings, unknown, now=web.clock())
    return [*known, *found], missing


def preview(
    web: Web, sub: Subscriber, profiles: list[Profile]
) -> tuple[list[DigestSection] | None, str | None]:
    try:
        sections = previews.preview_sections(
            web.store,
            web.settings,
            sub.id,
            profiles,
            now=web.clock(),
            models=web.models,
            recent=web.recent,
        )
    except Exception:
        log.exception("preview failed for subscriber %s", sub.id)
        return None, "The preview could not be made just now; saving still works."
    return list(sections), None


def titles(web: Web, form: manage_form.ManageForm) -> dict[str, str]:
    """The titles of the papers the form names by id (seeds, ratings), from the store."""
    ids = {i for p in form.profiles for i in (*p.seeds.split(), *p.liked[-5:], *p.disliked[-5:])}
    return {i: paper.title for i, paper in web.store.get_papers(sorted(ids)).items()}


def to_rate(web: Web, profiles: list[Profile]) -> dict[str, list[Paper]]:
    """Papers for each new profile (words but no seed or feedback) to rate in one go."""
    found: dict[str, list[Paper]] = {}
    for profile in profiles:
        if previews.cold(profile):
            try:
                papers = previews.to_rate(web.store, profile, models=web.models, recent=web.recent)
            except Exception:
                log.exception("no papers to rate for subscriber profile %r", profile.name)
                continue
            if papers:
                found[profile.name] = papers
    return found


def manage_page(
    web: Web,
    request: Request,
    sub: Subscriber,
    form: manage_form.ManageForm,
    *,
    preview_profiles: list[Profile] | None,
    status: int = 200,
    notice: str = "",
    unsaved: bool = False,
) -> HTMLResponse:
    sections, preview_error = (None, None)
    rating: dict[str, list[Paper]] = {}
    if preview_profiles is not None:
        sections, preview_error = preview(web, sub, preview_profiles)
        if not unsaved:  # ratings go to saved profiles only
            rating = to_rate(web, preview_profiles)
    return web.page(
        request,
        "manage.html",
        status,
        title="Your digest",
        subscriber=sub,
        form=form,
        errors=form.errors,
        csrf=web.form_token(request),
        sections=sections,
        preview_error=preview_error,
        preview_papers=PREVIEW_PAPERS,
        rating=rating,
        titles=titles(web, form),
        unsaved=unsaved,
        notice=notice,
        feed_url=web.links.feed(sub.id),
        unsubscribe_url=web.links.path("unsubscribe", sub.id),
        suppression=web.store.suppression(sub.id) if sub.status == Status.SUPPRESSED else None,
        hours=range(24),
        cutoffs=manage_form.CUTOFF_CHOICES,
        weekdays=forms.WEEKDAYS,
        timezones=forms.timezone_names(),
    )


NOTICES = {
    "saved": "Saved.",
    "resumed": "Your digest is on again, from the next one on.",
    "rated": "Thank you: your ratings now steer that profile, in the preview and the next digest.",
}


def manage(
    request: Request, token: str, saved: str = "", resumed: str = "", rated: str = ""
) -> Response:
    web = web_of(request)
    try:
        sub = web.subscriber_for("manage", token)
    except LinkError as exc:
        if not exc.expired:
            raise
        return web.page(
            request,
            "manage_expired.html",
            404,
            title="This link has expired",
            csrf=web.form_token(request),
        )
    profiles = web.store.profiles(sub.id)
    form = manage_form.manage_form(
        profiles,
        send_hour=sub.send_hour,
        timezone=sub.timezone,
        cadence=sub.cadence,
        weekdays=sub.weekdays,
        channels=sub.channels,
    )
    notice = next(
        (NOTICES[k] for k, v in (("resumed", resumed), ("rated", rated), ("saved", saved)) if v), ""
    )
    return manage_page(web, request, sub, form, preview_profiles=profiles, notice=notice)


async def manage_save(request: Request, token: str, form: CheckedForm) -> Response:
    web = web_of(request)
    try:
        sub = web.subscriber_for("manage", token)
    except LinkError as exc:
        if exc.expired and form["action"] == "renew":
            return await run_in_threadpool(renew, web, request, token)
        raise
    return await run_in_threadpool(save, web, request, sub, form)


def save(web: Web, request: Request, sub: Subscriber, posted_form: Posted) -> Response:
    if posted_form["action"] == "resume":
        rules.resume(web.store, sub)
        return RedirectResponse(f"{request.url.path}?resumed=1", status_code=303)
    if posted_form["action"] == "rate":
        return rate(web, request, sub, posted_form)
    stored = web.store.profiles(sub.id)
    form = manage_form.read_manage_form(posted_form.fields, stored)
    result = manage_form.validate_manage(form, stored, lambda ids: resolve_seeds(web, ids))
    if len(form.profiles) < forms.MAX_PROFILES + 1 and not (
        form.profiles and form.profiles[-1].blank
    ):
        form.profiles.append(manage_form.ProfileFields())
    if result is None:
        return manage_page(web, request, sub, form, preview_profiles=None, status=400, unsaved=True)
    if posted_form["action"] == "preview":
        return manage_page(web, request, sub, form, preview_profiles=result.profiles, unsaved=True)
    rules.save_profiles(
        web.store,
        sub,
        result.profiles,
        result.subscriber_fields,
        now=web.clock(),
        models=web.models,
    )
    return RedirectResponse(f"{request.url.path}?saved=1", status_code=303)


def rate(web: Web, request: Request, sub: Subscriber, posted_form: Posted) -> Response:
    """The ratings of the papers offered to a new profile: ``r<n>`` fields, each
    ``up:<paper id>``, ``down:<paper id>`` or empty (not rated)."""
    votes = []
    for n in range(rules.MAX_RATINGS):
        vote, _, paper_id = posted_form[f"r{n}"].partition(":")
        if vote in ("up", "down") and paper_id:
            votes.append((paper_id, vote))
    profile = posted_form["rate_profile"]
    recorded = rules.rate(web.store, sub, profile, votes, now=web.clock(), models=web.models)
    if recorded is None:
        return web.message(
            request,
            "This profile is gone",
            f"You no longer have a profile called “{profile}”.",
            status=404,
        )
    query = f"?rated={recorded}" if recorded else ""
    return RedirectResponse(f"{request.url.path}{query}", status_code=303)


def renew(web: Web, request: Request, token: str) -> HTMLResponse:
    """An expired but genuine manage link: mail a fresh one to the subscriber's own
    address (rate limited); whatever happens, show the same page."""
    (sid,) = web.tokens.read("manage", token)
    response = web.message(
        request,
        "A fresh link is on its way",
        "If this address is still subscribed, a message with a new link to your "
        "settings will arrive in a few minutes.",
    )
    mail = rules.renew_manage_link(web.store, web.links, sid, now=web.clock())
    if mail is not None:
        response.background = BackgroundTask(
            send_link_mail, web.settings, web.templates, mail, web.signing
        )
    return response
