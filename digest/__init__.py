"""digest: a self-hosted, personalised daily digest of new research papers."""

__version__ = "0.1.0"
