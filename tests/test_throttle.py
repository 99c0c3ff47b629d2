"""Sending rates shared by every worker: the quota in the store, and a day on two
worker processes held to a relay's and a domain's rate, against a real SMTP server."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from digest.accounts import import_subscribers
from digest.day.run import run_day
from digest.day.shard import open_store
from digest.profiles import SubscriberFile
from digest.settings import load_settings
from digest.store import Store
from tests.conftest import NOW
from tests.smtp_server import SmtpServer
from tests.test_shards import DAY, SECRET, make_day

WINDOW = datetime(2026, 11, 20, 6, 0)


def test_a_quota_counts_all_or_nothing_within_a_window(store: Store) -> None:
    both = [("relay", 3), ("domain:example.net", 2)]
    assert [store.take_quota(both, window=WINDOW) for _ in range(3)] == [
        None,
        None,
        "domain:example.net",
    ]
    # the refused message took nothing from the relay's quota
    assert store.take_quota([("relay", 3)], window=WINDOW) is None
    assert store.take_quota([("relay", 3)], window=WINDOW) == "relay"
    later = WINDOW + timedelta(minutes=1)
    assert store.take_quota(both, window=later) is None


def test_two_workers_keep_to_the_relays_and_a_domains_rate_together(
    tmp_path: Path, smtp_server: SmtpServer, database_url: str | None
) -> None:
    base = make_day(tmp_path, 30, database_url)
    store = open_store(base)
    net = [
        SubscriberFile.model_validate(
            {"email": f"net{i}@example.net", "profiles": [{"name": "main", "keywords": ["model"]}]}
        )
        for i in range(10)
    ]
    import_subscribers(store, net, now=NOW)
    settings = load_settings(
        data_dir=base.data_dir,
        database_url=database_url,
        secret_key=SECRET,
        web={"base_url": "https://digest.example.org"},
        mail={
            "mailer": "smtp",
            "from_address": "digest@example.org",
            "retries": 0,
            "rate_limit": 10,
            "domain_limits": {"Example.NET": 2},
            "rate_window": 1,
        },
        smtp={"host": smtp_server.host, "port": smtp_server.port, "security": "plain"},
        day={"shard_size": 10},
    )
    report = run_day(store, settings, now=NOW, day=DAY, collect_first=False, workers=2)
    store.close()
    assert report.sent == 40 and not report.deferred and report.ok
    assert report.workers == 2
    by_id = Counter(str(m["Message-ID"]) for m in smtp_server.messages)
    assert len(by_id) == 40 and set(by_id.values()) == {1}
    arrivals = smtp_server.received_at
    to_net = [
        t
        for t, m in zip(arrivals, smtp_server.messages, strict=True)
        if str(m["To"]).endswith("@example.net")
    ]
    assert len(to_net) == 10
    # 40 messages at 10 a window take 4 windows, 10 to example.net at 2 take 5: more
    # than 2 and 3 windows from the first to the last
    assert max(arrivals) - min(arrivals) > 2 - 0.3
    assert max(to_net) - min(to_net) > 3 - 0.3
