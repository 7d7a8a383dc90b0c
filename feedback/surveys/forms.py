"""The customer's survey form."""

from __future__ import annotations

import re

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import BooleanField, Field, RadioField, StringField, TextAreaField
from wtforms.validators import InputRequired

from feedback.journey.models import Stage


def parse_rating(value: object) -> int:
    """Only plain ASCII digits: int() would also take fullwidth digits, " 5" or "1_0"."""
    if isinstance(value, int):
        return value
    if not isinstance(value, str) or not re.fullmatch(r"-?[0-9]{1,3}", value):
        raise ValueError("not a rating")
    return int(value)


class ChannelsField(Field):
    """The ticked "also on ..." checkboxes (all named `channels`), as typed.

    Unknown values are kept, not dropped, so `validated_answer` can refuse them
    with a message next to the checkboxes instead of recording a consent the
    customer never saw.
    """

    data: list[str]

    def process_formdata(self, valuelist: list[str]) -> None:
        self.data = [str(value)[:20] for value in valuelist[:10]]

    def _value(self) -> str:
        return " ".join(self.data or [])


class SurveyForm(FlaskForm):
    """Rating, comment and the testimonial opt-in; the stage decides the scale.

    Lengths and the scale are checked by `surveys.services.validated_answer`,
    after the text is cleaned, so the form and the API share one set of rules.
    """

    class Meta:
        # The app-wide CSRFProtect checks every POST before the view runs (and
        # its failure handler keeps the answer); checking the same token again
        # in the form would only double the work on the busiest route.
        csrf = False

    rating = RadioField(
        "Rating", coerce=parse_rating, validate_choice=False, validators=[InputRequired()]
    )
    comment = TextAreaField("Comment")
    testimonial_opt_in = BooleanField("You may quote me")
    display_name = StringField("Name to show with your quote")
    display_role = StringField("Role or company")
    channels = ChannelsField("Where else", default=list)

    def __init__(self, stage: Stage, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        scale = stage.rating_scale
        self.rating.choices = [(value, str(value)) for value in scale.values]
        self.scale_message = f"Please choose a rating from {scale.low} to {scale.high}."

    def validate(self, extra_validators: object = None) -> bool:
        valid = super().validate(extra_validators)
        if self.rating.errors:
            # One clear message whatever went wrong: missing, not a number, off the scale.
            self.rating.errors = [self.scale_message]
        return valid


class ImportForm(FlaskForm):
    """A touchpoint CSV to import."""

    csv_file = FileField(
        "CSV file",
        validators=[
            FileRequired("Choose a CSV file."),
            FileAllowed(["csv", "txt"], "Only .csv files can be imported."),
        ],
    )
    send = BooleanField("Email the surveys", default=True)
