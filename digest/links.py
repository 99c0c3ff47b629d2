"""Every URL the product hands out, each carrying a signed, purpose-bound token.

:data:`PATHS` is the one table of the URL layout: the web app routes by it (each
route is named after its key) and :class:`LinkMaker` writes links from it, so emails,
feeds and the web app agree:

    /c/{token}                                  confirm a subscription (GET page, POST acts)
    /m/{token}                                  manage profiles (expires; re-sent on request)
    /u/{token}                                  unsubscribe (GET page; POST, incl. RFC 8058)
    /f/{token}.rss                              personal RSS feed
    /a/{token}                                  one sent digest as a web page
    /fb/{token}/{up|down}/{profile}/{paper id}  feedback on one paper (GET page, POST acts)

and the one address: each reader's return path (:meth:`LinkMaker.return_path`).
"""

from __future__ import annotations

import copy
from urllib.parse import quote

from digest.models import Links
from digest.tokens import Purpose, Tokens

PATHS: dict[str, str] = {
    "subscribe": "/",
    "stylesheet": "/static/style.css",
    "health": "/healthz",
    "confirm": "/c/{token}",
    "manage": "/m/{token}",
    "unsubscribe": "/u/{token}",
    "feed": "/f/{token}.rss",
    "archive": "/a/{token}",
    "feedback": "/fb/{token}/{vote}/{rest:path}",
}


def path_for(name: str, token: str) -> str:
    """The path of route ``name`` for a link token (feedback: the part before the vote)."""
    return PATHS[name].split("/{vote}", 1)[0].replace("{token}", token)


def _quote(value: str) -> str:
    return quote(value, safe="")


class LinkMaker:
    def __init__(self, base_url: str, tokens: Tokens, bounce_address: str | None = None) -> None:
        self.base = base_url.rstrip("/")
        self.tokens = tokens
        local, _, self._bounce_domain = (bounce_address or "").rpartition("@")
        self._bounce_local = local.partition("+")[0]

    def at(self, when: float) -> LinkMaker:
        """The same links, with expiring tokens dated ``when`` (seconds since the epoch)."""
        made = copy.copy(self)
        made.tokens = self.tokens.at(when)
        return made

    def return_path(self, subscriber_id: int) -> str | None:
        """The envelope sender of mail to this subscriber: ``mail.bounce_address`` with
        their signed token after a ``+`` (VERP), so that a bounce or a complaint names
        its reader and a forged one names nobody; None without a bounce address."""
        if not self._bounce_domain:
            return None
        token = self.tokens.make("bounce", subscriber_id)
        return f"{self._bounce_local}+{token}@{self._bounce_domain}"

    def path(self, name: Purpose, *subject: int) -> str:
        """The path of route ``name``, with a fresh token of the same purpose."""
        return path_for(name, self.tokens.make(name, *subject))

    def confirm(self, subscriber_id: int) -> str:
        return self.base + self.path("confirm", subscriber_id)

    def manage(self, subscriber_id: int) -> str:
        return self.base + self.path("manage", subscriber_id)

    def unsubscribe(self, subscriber_id: int) -> str:
        return self.base + self.path("unsubscribe", subscriber_id)

    def feed(self, subscriber_id: int) -> str:
        return self.base + self.path("feed", subscriber_id)

    def archive(self, subscriber_id: int, delivery_id: int) -> str:
        return self.base + self.path("archive", subscriber_id, delivery_id)

    def feedback_base(self, subscriber_id: int) -> str:
        return self.base + self.path("feedback", subscriber_id)

    def links(self, subscriber_id: int, delivery_id: int | None = None) -> Links:
        """The links of one digest; ``archive`` is empty until the digest is in the ledger."""
        return Links(
            manage=self.manage(subscriber_id),
            unsubscribe=self.unsubscribe(subscriber_id),
            feed=self.feed(subscriber_id),
            archive=self.archive(subscriber_id, delivery_id) if delivery_id is not None else "",
            feedback=self.feedback_base(subscriber_id),
        )


def feedback_url(feedback_base: str, vote: str, profile: str, paper_id: str) -> str:
    """``vote`` is ``up`` or ``down``; the paper id goes last, so ids with a slash
    (``astro-ph/0601001``) survive routing."""
    return f"{feedback_base}/{vote}/{_quote(profile)}/{_quote(paper_id)}"
