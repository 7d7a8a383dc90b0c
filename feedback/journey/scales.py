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
