"""What a digest shows of one paper, worked out once per paper: its title and abstract
as readable text, where to read it, and how arXiv announced it."""

from __future__ import annotations

from typing import Any

from digest.identity import parse_arxiv_id
from digest.latex import to_text
from digest.models import Paper
from digest.templating import cut_abstract, short_authors

ANNOUNCED = {"new": "New", "cross": "Cross-list"}


def arxiv_id(paper: Paper) -> str | None:
    """The paper's arXiv id, if its identity is one."""
    found = parse_arxiv_id(paper.id)
    return found[0] if found and found[0] == paper.id else None


def announced(paper: Paper) -> str:
    """``New``, ``Cross-list`` or ``New version (v6)``; empty when the source did not
    say."""
    if paper.announce == "replace":
        return f"New version (v{paper.version})" if paper.version else "New version"
    return ANNOUNCED.get(paper.announce or "", "")


def card(paper: Paper) -> dict[str, Any]:
    """A pick template's context for ``paper``."""
    found = arxiv_id(paper)
    abstract_page = paper.url or (f"https://arxiv.org/abs/{found}" if found else "")
    upvotes = paper.upvotes or 0
    return {
        "paper": paper,
        "title": to_text(paper.title),
        "abstract": cut_abstract(to_text(paper.abstract)),
        "authors": short_authors(paper.authors),
        "announced": announced(paper),
        "abstract_url": abstract_page,
        "pdf_url": f"https://arxiv.org/pdf/{found}" if found else "",
        # the Hugging Face page is known to exist for papers that came from there
        "hf_url": f"https://huggingface.co/papers/{found}"
        if found and paper.upvotes is not None
        else "",
        "upvotes": f"{upvotes} upvote{'' if upvotes == 1 else 's'} on Hugging Face"
        if paper.upvotes is not None
        else "",
    }
