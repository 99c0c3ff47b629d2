"""The Maildir outbox: each process stages its messages apart, and nothing is left behind."""

from __future__ import annotations

import os
import time
from multiprocessing import Queue, get_context
from pathlib import Path

from digest.deliver import MaildirMailer
from digest.mime import Message


def message(n: int) -> Message:
    return Message(
        sender="digest@example.org",
        to=f"r{n}@example.org",
        message_id=f"<m{n}@example.org>",
        head=f"To: r{n}@example.org\n".encode(),
        text=b"hello\n",
        html=None,
        boundary=b"b",
    )


def deliver(outbox: Path, numbers: range, found: Queue[tuple[int, list[str]]]) -> None:
    """Delivers through one mailer; puts its pid and the staging folders there were."""
    with MaildirMailer(outbox) as mailer:
        for n in numbers:
            mailer.send(message(n))
        found.put((os.getpid(), [p.name for p in mailer.beside.iterdir()]))


def test_processes_stage_apart_and_leave_only_the_messages(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    ctx = get_context("fork")
    found: Queue[tuple[int, list[str]]] = ctx.Queue()
    workers = [
        ctx.Process(target=deliver, args=(outbox, numbers, found))
        for numbers in (range(0, 60), range(40, 100))
    ]
    for w in workers:
        w.start()
    staged = [found.get(timeout=30) for _ in workers]
    for w in workers:
        w.join(30)
    # each process had a folder of its own, named by its host and pid
    assert staged[0][0] != staged[1][0]
    assert all(any(name.endswith(f".{pid}") for name in names) for pid, names in staged)
    delivered = list((outbox / "new").iterdir())
    assert len(delivered) == 100  # the twenty sent by both are there once
    assert {p.read_bytes().split(b"\n")[1] for p in delivered} == {
        f"To: r{n}@example.org".encode() for n in range(100)
    }
    assert not list((outbox / "tmp").iterdir())
    assert not list((tmp_path / "outbox.tmp").iterdir())


def test_a_folder_left_by_a_dead_process_is_swept_after_36_hours(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    beside = tmp_path / "outbox.tmp"
    old, recent = beside / "elsewhere.1", beside / "elsewhere.2"
    for folder in (old, recent):
        folder.mkdir(parents=True)
        (folder / "half-written").write_bytes(b"From: ")
    long_ago = time.time() - 37 * 3600
    os.utime(old, (long_ago, long_ago))
    with MaildirMailer(outbox) as mailer:
        mailer.send(message(1))
    assert not old.exists()
    assert (recent / "half-written").exists()  # maybe a process still writing
    assert len(list((outbox / "new").iterdir())) == 1
