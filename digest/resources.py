"""Files shipped with digest: found in the installed package or in a source checkout."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def shipped(folder: str) -> Path:
    """``templates`` or ``config``: ``digest/_<folder>`` when installed from a wheel,
    else the top-level folder of the source checkout."""
    installed = Path(str(resources.files("digest") / f"_{folder}"))
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parent.parent / folder
