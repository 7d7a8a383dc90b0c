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
    # Ratings at or below this count as unhappy (NPS detractors are 0-6).
    unhappy_at_most: int

    @property
    def values(self) -> range:
        return range(self.low, self.high + 1)

    def is_unhappy(self, rating: int) -> bool:
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
