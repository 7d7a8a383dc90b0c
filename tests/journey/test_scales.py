"""The one rule for an unhappy answer."""

from __future__ import annotations

import pytest

from feedback.journey.scales import is_unhappy


@pytest.mark.parametrize(
    ("scale", "rating", "label", "unhappy"),
    [
        ("csat", 2, None, True),
        ("csat", 3, None, False),
        ("csat", 5, "negative", True),
        ("csat", 1, "positive", True),
        ("nps", 6, "neutral", True),
        ("nps", 7, "positive", False),
        ("ces", 3, None, True),
        ("ces", 4, "neutral", False),
    ],
)
def test_an_answer_is_unhappy_for_a_low_rating_or_a_negative_comment(scale, rating, label, unhappy):
    assert is_unhappy(scale, rating, label) is unhappy
