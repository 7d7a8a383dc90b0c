from __future__ import annotations

from importlib.metadata import version

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from feedback import sentiment


def test_the_process_shares_one_analyzer():
    assert sentiment.analyzer() is sentiment.analyzer()


@pytest.mark.parametrize(
    ("compound", "label"),
    [
        (0.05, "positive"),
        (0.0499, "neutral"),
        (0.0, "neutral"),
        (-0.0499, "neutral"),
        (-0.05, "negative"),
        (0.9, "positive"),
        (-0.9, "negative"),
    ],
)
def test_labels_follow_vaders_own_thresholds(compound, label):
    assert sentiment.label_for(compound) == label


def test_the_whole_text_is_scored_unmodified_in_one_call():
    text = "The plant arrived DEAD. Refund took 3 weeks!!! Never again 😡"
    expected = SentimentIntensityAnalyzer().polarity_scores(text)
    result = sentiment.score(text)
    assert result.compound == expected["compound"]
    assert (result.pos, result.neu, result.neg) == (
        expected["pos"],
        expected["neu"],
        expected["neg"],
    )
    assert result.label == "negative"


def test_scores_carry_the_analyzer_version():
    assert sentiment.score("Lovely").version == f"vader-{version('vaderSentiment')}"
