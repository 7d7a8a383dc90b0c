"""Registering a webhook."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, StringField, widgets
from wtforms.validators import InputRequired, Length

from feedback.delivery.webhooks import EVENTS


class WebhookForm(FlaskForm):
    url = StringField("URL", validators=[InputRequired("Give the URL."), Length(max=500)])
    events = SelectMultipleField(
        "Events",
        choices=[(event, event) for event in EVENTS],
        default=list(EVENTS),
        widget=widgets.ListWidget(prefix_label=False),
        option_widget=widgets.CheckboxInput(),
        validators=[InputRequired("Choose at least one event.")],
    )
