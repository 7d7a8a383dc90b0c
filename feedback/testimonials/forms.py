"""The forms of the testimonial inbox and its settings page.

Whether an excerpt only cuts the customer's words is decided by
`testimonials.services.check_excerpt`, and which tags are allowed by
`services.normalise_tag`, so each rule lives in one place.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, SelectField, StringField, TextAreaField

# New in WTForms 3.3; types-WTForms (3.2) does not have it yet.
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import AnyOf, InputRequired, Length, NumberRange

from feedback.testimonials.models import MATERIAL_CONNECTION_LABELS, TAG_MAX
from feedback.testimonials.services import MAX_AGE_DAYS_RANGE, OWNER_USE_CHANNELS

MATERIAL_CONNECTION_CHOICES = [
    SelectChoice("", "None"),
    *(SelectChoice(key, label) for key, label in MATERIAL_CONNECTION_LABELS.items()),
]


class ExcerptForm(FlaskForm):
    excerpt = TextAreaField("Excerpt")


class TagsForm(FlaskForm):
    # Room for ten tags of the longest kind with their commas and spaces.
    tags = StringField("Tags", validators=[Length(max=10 * (TAG_MAX + 2))])


class MaterialConnectionForm(FlaskForm):
    material_connection = SelectField(
        "Connection to disclose", choices=MATERIAL_CONNECTION_CHOICES, default=""
    )


class UseForm(FlaskForm):
    """Sent by the Copy button's script: the CSRF token and what was done."""

    channel = HiddenField("Channel", validators=[InputRequired(), AnyOf(OWNER_USE_CHANNELS)])


class TestimonialSettingsForm(FlaskForm):
    testimonial_max_age_days = IntegerField(
        "Ask customers to re-confirm testimonials older than (days)",
        validators=[
            InputRequired("Enter a number of days."),
            NumberRange(
                *MAX_AGE_DAYS_RANGE,
                message=f"Enter a whole number of days from {MAX_AGE_DAYS_RANGE[0]} "
                f"to {MAX_AGE_DAYS_RANGE[1]}.",
            ),
        ],
    )
