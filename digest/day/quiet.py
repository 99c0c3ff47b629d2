"""Why a digest is empty or short, in words for its reader and for the operator.

Mail that silently does not come is the worst a digest can do: a reader cannot tell a
quiet day from a broken one. So an empty or short digest carries a note saying why
(nothing new was collected, a source failed, nothing scored above the reader's
cut-off), shown in the email, the feed and the run's report.
"""

from __future__ import annotations

from collections.abc import Sequence

NOTHING_COLLECTED = "No new papers were collected since your last digest."


def failed_sources(names: Sequence[str]) -> str:
    listed = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"Could not read {listed} this time, so some new papers may be missing."


def nothing_matched(collected: int) -> str:
    papers = "paper" if collected == 1 else "papers"
    return (
        f"None of the {collected} new {papers} was relevant enough for your profiles; "
        "add keywords or seed papers, or choose \u201cAnything that matched\u201d on your "
        "manage page, to see more."
    )


def note(*, picked: int, collected: int, failed: Sequence[str]) -> str:
    """The note for a digest of ``picked`` papers out of ``collected`` new ones, when
    the sources named in ``failed`` failed at their last fetch; empty when there is
    nothing to explain."""
    parts = []
    if not picked:
        parts.append(nothing_matched(collected) if collected else NOTHING_COLLECTED)
    if failed:
        parts.append(failed_sources(failed))
    return " ".join(parts)
