"""The README's commands, checked against what a fresh machine and the checkout have."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```sh\n(.*?)```", README, flags=re.DOTALL)


def _commands(block: str) -> list[list[str]]:
    found = []
    for line in block.splitlines():
        line = line.split("  #", 1)[0].strip()
        if line and not line.startswith("#"):
            for part in re.split(r"\s*&&\s*", line):
                found.append(shlex.split(part))
    return found


def test_the_quick_start_installs_into_a_virtualenv() -> None:
    """Debian 12 and Ubuntu refuse `pip install` into the system Python (PEP 668)."""
    first = _commands(BLOCKS[0])
    assert first[0] == ["python3", "-m", "venv", ".venv"]
    for words in first[1:]:
        assert words[0].startswith(".venv/bin/"), words
    assert "python3-venv" in README.split("```sh", 1)[0]


def test_every_file_the_readme_imports_exists_or_is_made_first() -> None:
    made = {"config/profiles/example.toml"}  # by `digest init`
    for block in BLOCKS:
        for words in _commands(block):
            if words[:1] == ["cp"]:
                made.add(words[-1])
            if words[:3] == ["digest", "profile", "import"] and words[3].startswith("config/"):
                path = words[3]
                assert path in made or (ROOT / path).is_file(), path


def test_no_command_calls_a_python_that_stock_debian_lacks() -> None:
    for block in BLOCKS:
        for words in _commands(block):
            assert words[0] != "python", words
