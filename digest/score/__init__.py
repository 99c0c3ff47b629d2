"""Profiles and papers → ranked, explained picks. Pure: no I/O, no rendering.

``textmodel`` turns text into vectors; ``profile`` builds a profile's vector when the
profile or its feedback changes; ``profileset`` stacks many of them into matrices;
``batch`` scores all of them against a day's papers in one pass; ``why`` writes out
what each pick matched.
"""

from digest.score.batch import rank_batch, score_batch
from digest.score.profile import ProfileVector, Seeds, Weights, build_profile, profile_vectors
from digest.score.profileset import ProfileSet
from digest.score.text import fold
from digest.score.textmodel import TextModel, paper_text
from digest.score.why import Ranking, assign_sections

__all__ = [
    "ProfileSet",
    "ProfileVector",
    "Ranking",
    "Seeds",
    "TextModel",
    "Weights",
    "assign_sections",
    "build_profile",
    "fold",
    "paper_text",
    "profile_vectors",
    "rank_batch",
    "score_batch",
]
