"""Who holds a claim: a live process, a dead one, or one on another host."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from digest.day.plan import owner_alive, this_owner

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def _owner_of(pid: int) -> str:
    host = this_owner().partition(":")[0]
    started = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    return f"{host}:{pid}:{started}"


def test_this_process_is_alive_and_another_hosts_is_trusted() -> None:
    assert owner_alive(this_owner())
    assert owner_alive("elsewhere:1:1")


def test_a_process_that_ended_is_dead_even_before_it_is_reaped() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    owner = _owner_of(child.pid)
    assert owner_alive(owner)
    child.kill()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert not owner_alive(owner), "a zombie holds no claim"
    child.wait()
    assert not owner_alive(owner)


def test_a_reused_process_id_is_not_the_old_owner() -> None:
    host, pid, _ = this_owner().split(":")
    assert not owner_alive(f"{host}:{pid}:1")
    assert os.getpid() == int(pid)
