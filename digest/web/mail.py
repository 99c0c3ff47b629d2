"""The only mail the web app sends: confirmation links and fresh manage links.

Both go to an address someone typed into a public form, so both are rate limited per
address: at most one per ``GAP`` and ``PER_DAY`` in a day, claimed in the store before
sending (see ``Store.claim_link_mail``), and a failed send still counts: a broken mail
server is never hammered from the web.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from jinja2 import Environment

from digest.deliver import make_mailer, send_with_retry
from digest.mime import build_message
from digest.settings import Settings
from digest.signing import SigningKey
from digest.store import Store

log = logging.getLogger("digest.web")

GAP = timedelta(minutes=10)
PER_DAY = 5
WEB_RETRIES = 2

Kind = Literal["confirm", "manage"]


def claim_send(store: Store, subscriber_id: int, *, now: datetime) -> bool:
    """Count one more link mail to this subscriber if the limit allows it; False if not."""
    return store.claim_link_mail(subscriber_id, now=now, gap=GAP, per_day=PER_DAY)


@dataclass(frozen=True, slots=True)
class LinkMail:
    """One message to send after the response: a confirm or a manage link."""

    kind: Kind
    to: str
    link: str
    sender: str | None = None  # the reader's return path


SUBJECTS: dict[Kind, str] = {
    "confirm": "Confirm your subscription to {name}",
    "manage": "Your link to change your {name} settings",
}


def send_link_mail(
    settings: Settings,
    templates: Environment,
    mail: LinkMail,
    signing: SigningKey | None = None,
) -> None:
    """Render and send; failures are logged, never shown (the page looked the same
    whether or not anything was sent) and never raised: this runs after the response,
    where an exception would only break the connection."""
    try:
        _send_link_mail(settings, templates, mail, signing)
    except Exception as exc:
        log.warning("%s mail to subscriber not sent: %s", mail.kind, exc, exc_info=True)


def _send_link_mail(
    settings: Settings, templates: Environment, mail: LinkMail, signing: SigningKey | None
) -> None:
    context = {
        "link": mail.link,
        "name": settings.mail.from_name,
        "base_url": settings.web.base_url.rstrip("/"),
        "days": settings.web.confirm_max_age // 86400,
        "manage_days": settings.web.manage_max_age // 86400,
    }
    text = templates.get_template(f"web/mail/{mail.kind}.txt").render(context)
    html = templates.get_template(f"web/mail/{mail.kind}.html").render(context)
    message = build_message(
        settings.mail,
        to=mail.to,
        subject=SUBJECTS[mail.kind].format(name=settings.mail.from_name),
        text=text,
        html=html,
        signing=signing,
        dkim_domain=settings.dkim.domain,
        from_address=settings.mail.link_from_address,
        from_name=settings.mail.link_from_name,
        sender=mail.sender,
    )
    with make_mailer(settings) as mailer:
        outcome = send_with_retry(
            mailer,
            message,
            retries=min(settings.mail.retries, WEB_RETRIES),
            backoff=settings.mail.retry_backoff,
        )
    if not outcome.sent:
        log.warning("%s mail to subscriber not sent: %s", mail.kind, outcome.error)
