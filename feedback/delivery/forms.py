"""Registering a webhook."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, StringField, widgets

# New in WTForms 3.3; types-WTForms (3.2) does not have it yet.
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import InputRequired, Length

from feedback.delivery.webhooks import EVENTS


class WebhookForm(FlaskForm):
    url = StringField("URL", validators=[InputRequired("Give the URL."), Length(max=500)])
    events = SelectMultipleField(
        "Events",
        choices=[SelectChoice(event) for event in EVENTS],
        default=list(EVENTS),
        widget=widgets.ListWidget(prefix_label=False),
        option_widget=widgets.CheckboxInput(),
        validators=[InputRequired("Choose at least one event.")],
    )
