"""How the day records each SMTP failure, against a real aiosmtpd server on loopback.

One reader's messages meet a fault every time they are tried; the others must still
go, the ledger must say what happened to the one, and a later run (the fault gone)
must send what is owed, once, and nothing that was refused for good.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from digest.settings import Settings, load_settings
from digest.store import Store
from digest.store.ledger import DEFERRED, FAILED, SENT
from tests.conftest import NOW
from tests.day_fixtures import READERS, run
from tests.smtp_server import LOGIN_PASSWORD, LOGIN_USER, Fault, SmtpServer

DAY = NOW.date()
VICTIM = "bob@example.org"
LATER = NOW + timedelta(hours=1)


def settings_for(tmp_path: Path, port: int, **smtp: object) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        secret_key="test-secret-" + "x" * 20,
        web={"base_url": "https://digest.example.org"},
        mail={
            "mailer": "smtp",
            "from_address": "digest@example.org",
            "retries": 2,
            "retry_backoff": 0,
        },
        smtp={"host": "127.0.0.1", "port": port, "security": "plain", "timeout": 5, **smtp},
    )


@pytest.fixture
def smtp_settings(tmp_path: Path, smtp_server: SmtpServer) -> Settings:
    return settings_for(tmp_path, smtp_server.port)


def ledger(store: Store) -> dict[str, tuple[str, int, str | None]]:
    """Each reader's row of the day: status, attempts, error."""
    emails = {s.id: s.email for s in store.subscribers()}
    return {
        emails[d.subscriber_id]: (d.status, d.attempts, d.error) for d in store.deliveries(day=DAY)
    }


def received(server: SmtpServer) -> list[str]:
    return sorted(m["To"].addresses[0].addr_spec for m in server.messages)


OTHERS = sorted(set(READERS) - {VICTIM})
TEMPORARY = [421, 451, 452]
PERMANENT = [550, 554]


@pytest.mark.parametrize("stage", ["rcpt", "data"])
@pytest.mark.parametrize("code", TEMPORARY)
def test_a_temporary_refusal_defers_one_reader_and_a_later_run_sends_it_once(
    day_store: Store, smtp_settings: Settings, smtp_server: SmtpServer, code: int, stage: str
) -> None:
    smtp_server.faults[VICTIM] = Fault(stage, reply=code)  # type: ignore[arg-type]
    report = run(day_store, smtp_settings)
    assert report.sent == 3 and not report.failed
    assert [e for e, _ in report.deferred] == [VICTIM]
    assert received(smtp_server) == OTHERS
    # tried once, then after everyone else in each of the two retry rounds
    assert [a for a, _ in smtp_server.faulted] == [VICTIM] * 3
    status, attempts, error = ledger(day_store)[VICTIM]
    assert status == DEFERRED and attempts == 1 and (error or "").startswith(str(code))
    assert {ledger(day_store)[e][0] for e in OTHERS} == {SENT}

    smtp_server.faults.clear()
    later = run(day_store, smtp_settings, now=LATER)
    assert later.sent == 1 and later.due == 0 and not later.deferred
    assert received(smtp_server) == sorted(READERS)
    status, attempts, error = ledger(day_store)[VICTIM]
    assert status == SENT and attempts == 2 and error is None
    assert run(day_store, smtp_settings, now=LATER + timedelta(hours=1)).sent == 0
    assert len(smtp_server.messages) == 4


@pytest.mark.parametrize("stage", ["rcpt", "data"])
@pytest.mark.parametrize("code", PERMANENT)
def test_a_permanent_refusal_fails_one_reader_for_good_and_is_not_retried(
    day_store: Store, smtp_settings: Settings, smtp_server: SmtpServer, code: int, stage: str
) -> None:
    smtp_server.faults[VICTIM] = Fault(stage, reply=code)  # type: ignore[arg-type]
    report = run(day_store, smtp_settings)
    assert report.sent == 3 and not report.deferred and not report.ok
    assert [e for e, _ in report.failed] == [VICTIM]
    assert [a for a, _ in smtp_server.faulted] == [VICTIM]  # asked once, not retried
    status, _, error = ledger(day_store)[VICTIM]
    assert status == FAILED and (error or "").startswith(str(code))
    assert received(smtp_server) == OTHERS

    smtp_server.faults.clear()
    later = run(day_store, smtp_settings, now=LATER)
    assert later.sent == 0 and later.due == 0
    assert ledger(day_store)[VICTIM][0] == FAILED
    assert received(smtp_server) == OTHERS


def test_a_connection_dropped_at_the_end_of_data_is_retried_on_a_new_one(
    day_store: Store, smtp_settings: Settings, smtp_server: SmtpServer
) -> None:
    smtp_server.faults[VICTIM] = Fault("data", drop=True)
    report = run(day_store, smtp_settings)
    assert report.sent == 3 and [e for e, _ in report.deferred] == [VICTIM]
    status, _, error = ledger(day_store)[VICTIM]
    assert status == DEFERRED and "closed" in (error or "").lower()
    assert received(smtp_server) == OTHERS
    smtp_server.faults.clear()
    assert run(day_store, smtp_settings, now=LATER).sent == 1
    assert received(smtp_server) == sorted(READERS)


def test_a_server_that_stalls_past_the_timeout_defers_that_reader_only(
    tmp_path: Path, day_store: Store, smtp_server: SmtpServer
) -> None:
    settings = settings_for(tmp_path, smtp_server.port, timeout=0.3)
    smtp_server.faults[VICTIM] = Fault("data", stall=1.0)
    started = time.monotonic()
    report = run(day_store, settings)
    assert time.monotonic() - started < 10
    assert report.sent == 3 and [e for e, _ in report.deferred] == [VICTIM]
    status, _, error = ledger(day_store)[VICTIM]
    assert status == DEFERRED and "timed out" in (error or "")
    smtp_server.faults.clear()
    assert run(day_store, settings, now=LATER).sent == 1
    assert received(smtp_server) == sorted(READERS)


def test_tls_required_but_not_offered_defers_every_digest_without_sending_in_clear(
    tmp_path: Path, day_store: Store, smtp_server: SmtpServer, smtp_settings: Settings
) -> None:
    settings = settings_for(tmp_path, smtp_server.port, security="starttls")
    report = run(day_store, settings)
    assert report.sent == 0 and not report.failed and not report.ok
    assert sorted(e for e, _ in report.deferred) == sorted(READERS)
    assert all("STARTTLS" in reason for _, reason in report.deferred)
    assert {s for s, _, _ in ledger(day_store).values()} == {DEFERRED}
    assert smtp_server.messages == []
    # one try per round for the whole shard, not one per reader
    assert smtp_server.sessions == 3
    # the operator turns TLS off for this relay: everything owed goes, once
    assert run(day_store, smtp_settings, now=LATER).sent == 4
    assert received(smtp_server) == sorted(READERS)


@pytest.fixture
def silent_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """A TCP server on loopback that accepts connections and never says a word."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1], accepted
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def test_a_server_that_never_greets_costs_one_timeout_per_round_not_per_reader(
    tmp_path: Path,
    day_store: Store,
    silent_server: tuple[int, list[socket.socket]],
    smtp_settings: Settings,
    smtp_server: SmtpServer,
) -> None:
    port, accepted = silent_server
    settings = settings_for(tmp_path, port, timeout=0.3)
    started = time.monotonic()
    report = run(day_store, settings)
    assert time.monotonic() - started < 4 * 0.3 + 3
    assert len(report.deferred) == 4 and report.sent == 0
    assert len(accepted) == 3
    assert run(day_store, smtp_settings, now=LATER).sent == 4
    assert received(smtp_server) == sorted(READERS)


def test_a_wrong_password_defers_every_digest_and_fails_none(
    tmp_path: Path, day_store: Store, smtp_server_login: SmtpServer
) -> None:
    wrong = settings_for(
        tmp_path, smtp_server_login.port, username=LOGIN_USER, password="wrong-password"
    )
    report = run(day_store, wrong)
    assert report.sent == 0 and not report.failed and len(report.deferred) == 4
    assert all("535" in reason for _, reason in report.deferred)
    assert {s for s, _, _ in ledger(day_store).values()} == {DEFERRED}
    right = settings_for(
        tmp_path, smtp_server_login.port, username=LOGIN_USER, password=LOGIN_PASSWORD
    )
    assert run(day_store, right, now=LATER).sent == 4
    assert received(smtp_server_login) == sorted(READERS)


@pytest.fixture
def refusing_server() -> Iterator[int]:
    """A TCP server on loopback that greets every connection with 554 and hangs up."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn = listener.accept()[0]
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"554 5.3.2 No SMTP service here\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    listener.close()


def test_a_554_greeting_defers_every_digest_and_fails_none(
    tmp_path: Path, day_store: Store, refusing_server: int
) -> None:
    report = run(day_store, settings_for(tmp_path, refusing_server))
    assert report.sent == 0 and not report.failed and len(report.deferred) == 4
    assert all("554" in reason for _, reason in report.deferred)
    assert {s for s, _, _ in ledger(day_store).values()} == {DEFERRED}


@pytest.fixture
def cutting_server() -> Iterator[tuple[int, list[int]]]:
    """An SMTP server on loopback that takes 1 KiB of each message's DATA, then
    resets the connection; yields its port and the bytes it got of each message."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()
    cut: list[int] = []

    def session(conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        conn.sendall(b"220 cutting ESMTP\r\n")
        for line in reader:
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                conn.sendall(b"250-cutting\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                conn.sendall(b"354 go ahead\r\n")
                cut.append(len(reader.read(1024)))
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 OK\r\n")

    def serve() -> None:
        while not stop.is_set():
            try:
                conn = listener.accept()[0]
            except TimeoutError:
                continue
            with conn:
                session(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], cut
    stop.set()
    thread.join()
    listener.close()


def test_a_connection_reset_in_the_middle_of_data_defers_and_a_later_run_sends_once(
    tmp_path: Path,
    day_store: Store,
    cutting_server: tuple[int, list[int]],
    smtp_settings: Settings,
    smtp_server: SmtpServer,
) -> None:
    port, cut = cutting_server
    report = run(day_store, settings_for(tmp_path, port))
    assert report.sent == 0 and not report.failed and len(report.deferred) == 4
    assert len(cut) == 4 * 3 and set(cut) == {1024}  # each message cut short, each round
    assert {s for s, _, _ in ledger(day_store).values()} == {DEFERRED}
    assert run(day_store, smtp_settings, now=LATER).sent == 4
    assert received(smtp_server) == sorted(READERS) and len(smtp_server.messages) == 4
