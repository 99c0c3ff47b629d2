"""The ``digest`` command: thin click commands over the library, one module per part of
the job; importing them registers their commands on :data:`main`."""

from digest.cli import day, mail, papers, people, setup
from digest.cli.base import main

__all__ = ["day", "mail", "main", "papers", "people", "setup"]
