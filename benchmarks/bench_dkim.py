"""What DKIM signing adds to each message of a day: a digest-sized message (the golden
email's text and HTML, about 16 KB) built and serialised without a signature, then
signed with RSA-2048 and with Ed25519 (the key loaded once, as the day does), and
dkimpy's own signing for comparison. Each figure is the best of five rounds.

    python benchmarks/bench_dkim.py [--messages 2000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from digest.mime import Letterhead
from digest.settings import DkimSettings, MailSettings
from digest.signing import SigningKey, load_key, write_key

ROOT = Path(__file__).resolve().parent.parent
DATE = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)


def per_message(letterhead: Letterhead, n: int, text: bytes, html: bytes) -> float:
    """The best of five rounds of ``n`` messages (a shared machine's noise only adds)."""
    return min(_round(letterhead, n, text, html) for _ in range(5))


def _round(letterhead: Letterhead, n: int, text: bytes, html: bytes) -> float:
    started = time.perf_counter()
    for i in range(n):
        letterhead.message(
            to=f"reader{i}@example.com",
            subject="12 new papers for you",
            text=text,
            html=html,
            unsubscribe=f"https://digest.example.org/u/{i}.token",
            archive=f"https://digest.example.org/a/{i}.token",
            message_id=f"<digest.2026-11-20.{i}@example.org>",
            sender=f"bounces+{i}.token@example.org",
        ).as_bytes()
    return (time.perf_counter() - started) / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    n = parser.parse_args().messages
    text = (ROOT / "tests/golden/digest_email.txt").read_bytes()
    html = (ROOT / "tests/golden/digest_email.html").read_bytes()
    mail = MailSettings(from_address="digest@example.org")
    base = per_message(Letterhead(mail, date=DATE), n, text, html)
    print(f"message of {len(text) + len(html)} body bytes, {n} messages each")
    print(f"unsigned:          {base:.3f} ms a message")
    with tempfile.TemporaryDirectory() as folder:
        for kind in ("rsa", "ed25519"):
            path = Path(folder) / f"{kind}.pem"
            write_key(path, "bench", kind)
            key: SigningKey | None = load_key(DkimSettings(key_file=path, selector="bench"))
            signed = per_message(Letterhead(mail, date=DATE, signing=key), n, text, html)
            label = "RSA-2048" if kind == "rsa" else "Ed25519"
            print(f"signed, {label:9} {signed:.3f} ms a message (+{signed - base:.3f} ms)")
        import dkim

        pem = (Path(folder) / "rsa.pem").read_bytes()
        raw = (
            Letterhead(mail, date=DATE)
            .message(to="a@example.com", subject="s", text=text, html=html)
            .as_bytes()
        )
        m = max(n // 20, 20)
        started = time.perf_counter()
        for _ in range(m):
            dkim.sign(raw, b"bench", b"example.org", pem)
        took = (time.perf_counter() - started) / m * 1000
        print(
            f"dkimpy, RSA-2048:  {took:.3f} ms a signature (key parsed each time, as its API does)"
        )


if __name__ == "__main__":
    main()
