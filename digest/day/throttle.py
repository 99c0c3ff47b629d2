"""Sending rates that hold across every worker together: through the relay, and to
each receiving domain that has a limit (big mailbox providers throttle senders).

Counts live in the store, per fixed window of ``mail.rate_window`` seconds of wall
clock, so that workers on any number of machines draw on the same quota. A digest
over a limit is never skipped: over the relay's limit the worker waits for the next
window; over a domain's, the digest goes to the back of the shard, to be sent when
the window turns (or deferred to the next run if the shard ends before).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from digest.settings import MailSettings
from digest.store import Store

RELAY = "relay"


class Throttle:
    def __init__(
        self, store: Store, mail: MailSettings, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.window = mail.rate_window
        self.relay = mail.rate_limit
        self.domains = {d.lower(): n for d, n in mail.domain_limits.items()}
        self.clock = clock

    @property
    def active(self) -> bool:
        return self.relay is not None or bool(self.domains)

    def take(self, address: str) -> str | None:
        """Count one message to ``address``; None if it may go now, else what holds
        it back (``"relay"`` or the receiving domain)."""
        domain = address.rpartition("@")[2].lower()
        limits = [] if self.relay is None else [(RELAY, self.relay)]
        if domain in self.domains:
            limits.append((f"domain:{domain}", self.domains[domain]))
        if not limits:
            return None
        start = int(self.clock()) // self.window * self.window
        window = datetime.fromtimestamp(start, UTC).replace(tzinfo=None)
        held = self.store.take_quota(limits, window=window)
        return None if held is None else held.removeprefix("domain:")

    def until_next_window(self) -> float:
        now = self.clock()
        return (int(now) // self.window + 1) * self.window - now
