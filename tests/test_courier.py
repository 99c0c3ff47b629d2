"""The courier: a mailer on a thread of its own, behind a bounded queue."""

from __future__ import annotations

import threading
from pathlib import Path

from digest.deliver import Courier, MaildirMailer, TemporaryFailure
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


class GatedMailer:
    """Sends only once ``gate`` is open; refuses the message of ``refuse``."""

    def __init__(self, refuse: str) -> None:
        self.gate = threading.Event()
        self.refuse = refuse
        self.sent: list[str] = []

    def send(self, m: Message) -> None:
        self.gate.wait(5)
        if m.message_id == self.refuse:
            raise TemporaryFailure("disk full")
        self.sent.append(m.message_id)


def test_the_caller_goes_on_while_the_mailer_waits_and_gets_every_outcome_back() -> None:
    mailer = GatedMailer(refuse="<m1@example.org>")
    with Courier[int](mailer, depth=8) as courier:  # type: ignore[arg-type]
        for n in range(3):
            courier.post(n, message(n))  # returns at once: the mailer is held
        assert courier.sent() == [] and mailer.sent == []
        mailer.gate.set()
        outcomes = courier.sent(wait=True)
    assert [tag for tag, _ in outcomes] == [0, 1, 2]
    assert [str(error) if error else None for _, error in outcomes] == [None, "disk full", None]
    assert mailer.sent == ["<m0@example.org>", "<m2@example.org>"]


def test_a_full_queue_holds_the_caller_back(tmp_path: Path) -> None:
    mailer = GatedMailer(refuse="")
    with Courier[int](mailer, depth=2) as courier:  # type: ignore[arg-type]
        posted: list[int] = []

        def post_all() -> None:
            for n in range(6):
                courier.post(n, message(n))
                posted.append(n)

        poster = threading.Thread(target=post_all)
        poster.start()
        poster.join(0.5)
        # one message in the mailer's hands, two waiting: the fourth post waits
        assert posted == [0, 1, 2]
        mailer.gate.set()
        poster.join(5)
        assert len(courier.sent(wait=True)) == 6


def test_a_maildir_through_the_courier_holds_every_message_once(tmp_path: Path) -> None:
    with MaildirMailer(tmp_path / "outbox") as mailer, Courier[int](mailer) as courier:
        for n in [*range(50), *range(10)]:  # ten of them delivered twice
            courier.post(n, message(n))
        assert all(error is None for _, error in courier.sent(wait=True))
    assert len(list((tmp_path / "outbox" / "new").iterdir())) == 50
    assert not list((tmp_path / "outbox" / "tmp").iterdir())
