"""Every URL the product hands out, each carrying a signed, purpose-bound token.

One module decides the URL layout so that emails, feeds and the web app agree:

    /c/{token}                                  confirm a subscription (GET page, POST acts)
    /m/{token}                                  manage profiles (expires; re-sent on request)
    /u/{token}                                  unsubscribe (GET page; POST, incl. RFC 8058)
    /f/{token}.rss                              personal RSS feed
    /a/{token}                                  one sent digest as a web page
    /fb/{token}/{up|down}/{profile}/{paper id}  feedback on one paper (GET page, POST acts)
"""

from __future__ import annotations

from urllib.parse import quote

from digest.models import Links
from digest.tokens import Tokens


def _quote(value: str) -> str:
    return quote(value, safe="")


class LinkMaker:
    def __init__(self, base_url: str, tokens: Tokens) -> None:
        self.base = base_url.rstrip("/")
        self.tokens = tokens

    def confirm(self, subscriber_id: int) -> str:
        return f"{self.base}/c/{self.tokens.make('confirm', subscriber_id)}"

    def manage(self, subscriber_id: int) -> str:
        return f"{self.base}/m/{self.tokens.make('manage', subscriber_id)}"

    def unsubscribe(self, subscriber_id: int) -> str:
        return f"{self.base}/u/{self.tokens.make('unsubscribe', subscriber_id)}"

    def feed(self, subscriber_id: int) -> str:
        return f"{self.base}/f/{self.tokens.make('feed', subscriber_id)}.rss"

    def archive(self, subscriber_id: int, delivery_id: int) -> str:
        return f"{self.base}/a/{self.tokens.make('archive', subscriber_id, delivery_id)}"

    def feedback_base(self, subscriber_id: int) -> str:
        return f"{self.base}/fb/{self.tokens.make('feedback', subscriber_id)}"

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
