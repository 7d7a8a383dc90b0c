"""The words and two-word phrases customers use most, stop words left out."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable

from feedback.text import STOP_WORDS, words_of

CLAUSE_BREAK = re.compile(r"[.,!?;:()\n\u2013\u2014-]+")


def count_terms(comments: Iterable[str]) -> tuple[Counter[str], Counter[str]]:
    """Word and two-word phrase counts, each counted once per comment.

    A phrase is two neighbouring words, neither a stop word ("slow delivery",
    "plant died"); once per comment, so one long rant does not outweigh
    many customers.
    """
    words: Counter[str] = Counter()
    phrases: Counter[str] = Counter()
    for comment in comments:
        kept: set[str] = set()
        pairs: set[str] = set()
        # Phrases never span punctuation: "slow delivery, plant died" has no "delivery plant".
        for clause in CLAUSE_BREAK.split(comment):
            # Stop words break a phrase; stray letters (markup, "a") are skipped.
            tokens = [t if t not in STOP_WORDS else "" for t in words_of(clause) if len(t) > 1]
            kept.update(t for t in tokens if t)
            pairs.update(f"{a} {b}" for a, b in itertools.pairwise(tokens) if a and b)
        words.update(kept)
        phrases.update(pairs)
    return words, phrases
