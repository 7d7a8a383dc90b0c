"""Rating scales a stage can ask on."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    key: str
    name: str
    low: int
    high: int
    low_label: str
    high_label: str
    # Ratings at or below this are low: an unhappy answer (NPS detractors are 0-6).
    unhappy_at_most: int

    @property
    def values(self) -> range:
        return range(self.low, self.high + 1)

    def is_low(self, rating: int) -> bool:
        """The rating half of `is_unhappy`: at or below the scale's threshold."""
        return rating <= self.unhappy_at_most

    def normalised(self, rating: float) -> float:
        """A rating mapped onto 0..1, to compare stages on different scales."""
        return (rating - self.low) / (self.high - self.low)


SCALES: dict[str, Scale] = {
    "nps": Scale(
        "nps", "Likelihood to recommend (0-10)", 0, 10, "Not at all likely", "Extremely likely", 6
    ),
    "csat": Scale("csat", "Satisfaction (1-5)", 1, 5, "Very unhappy", "Very happy", 2),
    "ces": Scale("ces", "Ease (1-7)", 1, 7, "Very difficult", "Very easy", 3),
}


def is_unhappy(scale_key: str, rating: int, sentiment_label: str | None) -> bool:
    """The one rule for an unhappy answer: a low rating on its scale, or a negative comment.

    It opens the follow-up, picks the thanks page, counts in the rollup and
    sends the `response.negative` webhook: all of them must agree.
    """
    return SCALES[scale_key].is_low(rating) or sentiment_label == "negative"


# A high rating with a clearly negative comment (or the reverse) is worth a
# second look: often the customer picked the wrong end of the scale, or is
# being sarcastic.
HIGH_SHARE = 0.75  # top quarter of the scale: NPS 9-10, CSAT 4-5 (4.0 of 1-5), CES 6-7
CLEARLY_NEGATIVE = -0.3
CLEARLY_POSITIVE = 0.5


def high_rating_from(scale_key: str) -> float:
    scale = SCALES[scale_key]
    return scale.low + HIGH_SHARE * (scale.high - scale.low)


def is_mismatch(rating: int, scale_key: str, label: str | None, compound: float | None) -> bool:
    """Whether the rating and the comment's sentiment clearly disagree."""
    if label is None or compound is None:
        return False
    if rating >= high_rating_from(scale_key):
        return label == "negative" and compound <= CLEARLY_NEGATIVE
    if SCALES[scale_key].is_low(rating):
        return label == "positive" and compound >= CLEARLY_POSITIVE
    return False
