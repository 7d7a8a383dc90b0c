"""The words and two-word phrases customers use most, stop words left out."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable

# Common English function words, and words every review uses, which say
# nothing about what went well or badly.
STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are aren't as at be because
    been before being below between both but by can can't cannot could couldn't did didn't
    do does doesn't doing don't down during each even ever every few for from further get
    got had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers
    herself him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its
    itself just let's me more most much must mustn't my myself no nor not now of off on
    once only or other ought our ours ourselves out over own really same shan't she she'd
    she'll she's should shouldn't so some still such than that that's the their theirs
    them themselves then there there's these they they'd they'll they're they've this those
    through to too under until up us very was wasn't we we'd we'll we're we've were weren't
    what what's when when's where where's which while who who's whom why why's will with
    won't would wouldn't you you'd you'll you're you've your yours yourself yourselves
    one two ok okay thanks thank lot bit im ive dont didnt cant
    """.split()  # noqa: SIM905  (a word list reads better as text)
)
CURLY_APOSTROPHE = "\u2019"
CLAUSE_BREAK = re.compile(r"[.,!?;:()\n\u2013\u2014-]+")
WORD = re.compile(r"[a-z][a-z'\u2019]*[a-z]|[a-z]")


def words_of(text: str) -> list[str]:
    """Lower-case words; apostrophes kept inside words ("didn't"), curly ones straightened."""
    return [w.replace(CURLY_APOSTROPHE, "'") for w in WORD.findall(text.lower())]


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
