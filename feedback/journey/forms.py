"""Owner forms for the journey: stages and their touchpoints."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField

# New in WTForms 3.3; types-WTForms (3.2) does not have it yet.
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import InputRequired, Length

from feedback.journey.models import CHANNELS
from feedback.journey.scales import SCALES
from feedback.journey.services import NAME_MAX, PROMPT_MAX, QUESTION_MAX

SCALE_CHOICES = [SelectChoice(key, scale.name) for key, scale in SCALES.items()]
CHANNEL_CHOICES = [SelectChoice(channel, channel.capitalize()) for channel in CHANNELS]


def _text_field(
    label: str, limit: int, missing: str, kind: type[StringField] = StringField
) -> StringField:
    return kind(
        label,
        validators=[
            InputRequired(missing),
            Length(max=limit, message=f"Please keep it under {limit} characters."),
        ],
    )


class StageForm(FlaskForm):
    name = _text_field("Name", NAME_MAX, "Please enter a name.")
    question = _text_field(
        "Question customers are asked", QUESTION_MAX, "Please enter a question.", TextAreaField
    )
    comment_prompt = _text_field(
        "Prompt above the comment box", PROMPT_MAX, "Please enter a prompt."
    )
    thank_you = _text_field("Thank-you line after an answer", PROMPT_MAX, "Please enter a line.")
    scale = SelectField("Rating scale", choices=SCALE_CHOICES, validate_choice=False)
    active = BooleanField("Active: survey links and open links can be sent for this stage")


class NewStageForm(FlaskForm):
    name = _text_field("Name of the new stage", NAME_MAX, "Please enter a name.")
    scale = SelectField(
        "Rating scale", choices=SCALE_CHOICES, default="csat", validate_choice=False
    )


class TouchpointForm(FlaskForm):
    name = _text_field("Name", NAME_MAX, "Please enter a name.")
    channel = SelectField("Channel", choices=CHANNEL_CHOICES, validate_choice=False)


class MoveForm(FlaskForm):
    direction = SelectField(
        "Direction",
        choices=[SelectChoice("up", "Earlier"), SelectChoice("down", "Later")],
        validators=[InputRequired()],
    )
