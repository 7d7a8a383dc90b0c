"""The one place VADER is used.

Building an analyzer loads its lexicon (about 8 ms), so the process keeps one
and reuses it; the whole comment is scored in one call, unmodified, because
VADER reads capitals, punctuation and emoji as signals.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib.metadata import version

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

# VADER's own convention for turning the compound score into a label.
POSITIVE_AT_LEAST = 0.05
NEGATIVE_AT_MOST = -0.05


@dataclass(frozen=True)
class Sentiment:
    compound: float
    pos: float
    neu: float
    neg: float
    label: str
    version: str


@functools.cache
def analyzer_version() -> str:
    """Stored with every score so `rescore` can find the ones made by another version."""
    return f"vader-{version('vaderSentiment')}"


@functools.cache
def analyzer() -> SentimentIntensityAnalyzer:
    """The process's single analyzer, built on first use."""
    return SentimentIntensityAnalyzer()


def label_for(compound: float) -> str:
    if compound >= POSITIVE_AT_LEAST:
        return "positive"
    if compound <= NEGATIVE_AT_MOST:
        return "negative"
    return "neutral"


def score(text: str) -> Sentiment:
    """Score one whole text."""
    scores = analyzer().polarity_scores(text)
    compound = float(scores["compound"])
    return Sentiment(
        compound=compound,
        pos=float(scores["pos"]),
        neu=float(scores["neu"]),
        neg=float(scores["neg"]),
        label=label_for(compound),
        version=analyzer_version(),
    )
