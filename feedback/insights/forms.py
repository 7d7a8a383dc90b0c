"""The responses list's filters: a GET form (no CSRF: it changes nothing)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField

# New in WTForms 3.3; types-WTForms (3.2) does not have it yet.
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import Length, NumberRange, Optional, ValidationError

from feedback.insights.services import EARLIEST_DAY, LATEST_DAY
from feedback.journey.models import Stage

LABELS = [
    SelectChoice("", "Any sentiment"),
    SelectChoice("positive", "Positive"),
    SelectChoice("neutral", "Neutral"),
    SelectChoice("negative", "Negative"),
    SelectChoice("none", "No comment"),
]


class ResponseFilterForm(FlaskForm):
    class Meta:
        csrf = False

    stage = SelectField("Stage", choices=[], default="")
    touchpoint = SelectField("Touchpoint", choices=[], default="")
    label = SelectField("Sentiment", choices=LABELS, default="")
    rating_min = IntegerField(
        "Rating from", validators=[Optional(), NumberRange(0, 10, "Ratings go from 0 to 10.")]
    )
    rating_max = IntegerField(
        "Rating to", validators=[Optional(), NumberRange(0, 10, "Ratings go from 0 to 10.")]
    )
    since = DateField("From", validators=[Optional()])
    until = DateField("To", validators=[Optional()])
    q = StringField("Search comments and names", validators=[Optional(), Length(max=100)])
    opted_in = BooleanField("May be quoted")
    mismatch = BooleanField("Rating and comment disagree")

    def set_journey(self, stages: list[Stage]) -> None:
        self.stage.choices = [SelectChoice("", "All stages")] + [
            SelectChoice(stage.key, stage.name) for stage in stages
        ]
        self.touchpoint.choices = [SelectChoice("", "All touchpoints")] + [
            SelectChoice(str(t.id), t.name, optgroup=stage.name)
            for stage in stages
            for t in stage.touchpoints
        ]

    def validate_rating_max(self, field: IntegerField) -> None:
        low = self.rating_min.data
        if field.data is not None and low is not None and field.data < low:
            raise ValidationError("The upper end is below the lower one.")

    def validate_since(self, field: DateField) -> None:
        _within_range(field)

    def validate_until(self, field: DateField) -> None:
        _within_range(field)
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError("The end is before the start.")


def _within_range(field: DateField) -> None:
    if field.data and not EARLIEST_DAY <= field.data <= LATEST_DAY:
        raise ValidationError(f"Use a date from {EARLIEST_DAY.year} to {LATEST_DAY.year}.")
