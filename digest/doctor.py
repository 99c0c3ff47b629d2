"""What a sender needs before mail goes out for real, checked from the settings:
each check says what is fine, or what is missing and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from digest.day.returns import mailbox_name, open_inbox
from digest.mime import Letterhead
from digest.settings import Settings
from digest.signing import SigningKeyError, load_key, record_name

# names that are never anyone's mail domain (RFC 2606, RFC 6761)
RESERVED = ("localhost", "localdomain", "example.org", "example.com", "example.net", "invalid")
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Check:
    ok: bool
    what: str
    detail: str


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


def _aligned(domain: str, other: str) -> bool:
    """Relaxed DMARC alignment, roughly: the same domain or one inside the other."""
    return domain == other or domain.endswith("." + other) or other.endswith("." + domain)


def checks(settings: Settings) -> list[Check]:
    mail = settings.mail
    found: list[Check] = []
    domain = _domain(mail.from_address)
    own = (
        "." in domain
        and domain not in RESERVED
        and not domain.endswith(tuple("." + r for r in RESERVED))
    )
    found.append(
        Check(
            own,
            "From domain",
            f"digests come from {mail.from_address}"
            if own
            else f"mail.from_address is {mail.from_address}: use an address at a domain "
            "you control, where you can publish DNS records",
        )
    )
    if mail.link_from_address and not _aligned(_domain(mail.link_from_address), domain):
        found.append(
            Check(
                False,
                "link From domain",
                f"mail.link_from_address {mail.link_from_address} is not at {domain}: "
                "sign and publish records for that domain too",
            )
        )
    found.append(_dkim(settings, domain))
    https = settings.web.base_url.startswith("https://")
    found.append(
        Check(
            https,
            "HTTPS links",
            f"every link starts with {settings.web.base_url}"
            if https
            else f"web.base_url is {settings.web.base_url}: large mail providers want "
            "https:// links, and one-click unsubscribe (RFC 8058) needs them",
        )
    )
    head = Letterhead(mail, date=_EPOCH).message(
        to="reader@example.com", subject="-", text="-", unsubscribe="https://x/u/t"
    )
    one_click = b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in head.head
    found.append(
        Check(
            one_click and https,
            "one-click unsubscribe",
            "List-Unsubscribe and List-Unsubscribe-Post on every digest; a POST to it "
            "unsubscribes at once" + ("" if https else ", but only over https (see HTTPS links)"),
        )
    )
    found += _bounces(settings, domain)
    smtp = mail.mailer == "smtp"
    found.append(
        Check(
            smtp,
            "mailer",
            f"SMTP relay {settings.smtp.host}:{settings.smtp.port} ({settings.smtp.security})"
            if smtp
            else 'mail.mailer is "maildir": digests stay in the local outbox; set "smtp"',
        )
    )
    return found


def _dkim(settings: Settings, from_domain: str) -> Check:
    try:
        key = load_key(settings.dkim)
    except SigningKeyError as exc:
        return Check(False, "DKIM key", str(exc))
    if key is None:
        return Check(
            False,
            "DKIM key",
            "dkim.key_file is not set: `digest init --dkim rsa` writes a key and prints "
            "the DNS record to publish",
        )
    domain = settings.dkim.domain or from_domain
    if not _aligned(domain, from_domain):
        return Check(
            False,
            "DKIM key",
            f"dkim.domain {domain} is not the From domain {from_domain}: DMARC needs them aligned",
        )
    return Check(
        True,
        "DKIM key",
        f"{key.kind} key, published as TXT at {record_name(key.selector, domain)}: "
        f'"{key.dns_record()}"',
    )


def _bounces(settings: Settings, from_domain: str) -> list[Check]:
    address = settings.mail.bounce_address
    if address is None:
        return [
            Check(
                False,
                "bounce address",
                "mail.bounce_address is not set: bounces go to the From address and "
                "name no reader; set it (e.g. bounces@" + from_domain + ")",
            )
        ]
    found = [
        Check(
            _aligned(_domain(address), from_domain),
            "bounce address",
            f"each reader's mail returns to {address.replace('@', '+TOKEN@')}"
            + (
                ""
                if _aligned(_domain(address), from_domain)
                else f"; it is not at {from_domain}, so SPF cannot align for DMARC"
            ),
        )
    ]
    inbox = open_inbox(settings.bounces)
    if inbox is None:
        found.append(
            Check(
                False,
                "bounce mailbox",
                "neither bounces.maildir nor bounces.imap_host is set: deliver mail for "
                "the bounce address into a Maildir, or a folder on an IMAP server, and "
                "name it there",
            )
        )
    else:
        name = mailbox_name(settings.bounces)
        try:
            with inbox as opened:
                unread = sum(1 for _ in opened.unread())
            found.append(Check(True, "bounce mailbox", f"{name}: {unread} unread"))
        except OSError as exc:
            found.append(Check(False, "bounce mailbox", f"{name}: {exc}"))
    return found
