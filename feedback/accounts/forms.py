"""Owner forms: logging in, passwords, the team, API keys and settings."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields import Field

# New in WTForms 3.3; types-WTForms (3.2) does not have it yet.
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError

from feedback.delivery.addresses import has_control_characters


class LoginForm(FlaskForm):
    email = EmailField(
        "Email", validators=[InputRequired("Please enter your email."), Length(max=254)]
    )
    password = PasswordField(
        "Password", validators=[InputRequired("Please enter your password."), Length(max=200)]
    )
    remember = BooleanField("Keep me logged in on this device")


class EmptyForm(FlaskForm):
    """Only a CSRF token, for POST-only buttons such as log out."""


class ApiKeyForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired("Give the key a name."), Length(max=80)])


def _single_line(form: FlaskForm, field: Field) -> None:
    # These values go into email headers, where a line break starts a new header.
    if field.data and has_control_characters(field.data):
        raise ValidationError("No line breaks or other control characters.")


class SettingsForm(FlaskForm):
    """The workspace's settings; rules beyond types and ranges live in the service."""

    name = StringField("Business name", validators=[InputRequired(), Length(max=120)])
    timezone = StringField("Time zone", validators=[InputRequired(), Length(max=64)])
    brand_colour = StringField("Brand colour", validators=[InputRequired(), Length(max=7)])
    sender_name = StringField(
        "Sender name",
        validators=[Optional(), Length(max=80), _single_line],
    )
    sender_address = StringField(
        "Sender address",
        validators=[Optional(), Length(max=254), _single_line],
    )
    invitation_ttl_days = IntegerField(
        "Survey links expire after (days)", validators=[InputRequired(), NumberRange(1, 365)]
    )
    throttle_days = IntegerField(
        "Same stage at most once in (days, 0: no limit)",
        validators=[InputRequired(), NumberRange(0, 365)],
    )
    contact_cap_days = IntegerField(
        "Any survey at most once in (days, 0: no limit)",
        validators=[InputRequired(), NumberRange(0, 90)],
    )
    reminder_days = IntegerField(
        "Remind after (days, 0: never)", validators=[InputRequired(), NumberRange(0, 30)]
    )
    follow_up_sla_hours = IntegerField(
        "Follow up unhappy answers within (hours)",
        validators=[InputRequired(), NumberRange(1, 720)],
    )
    consent_text = TextAreaField(
        "Testimonial consent text", validators=[InputRequired(), Length(max=2000)]
    )


ROLE_CHOICES = [SelectChoice("member", "Member"), SelectChoice("owner", "Owner")]


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(
        "Current password", validators=[InputRequired("Please enter your current password.")]
    )
    password = PasswordField(
        "New password", validators=[InputRequired("Please choose a new password.")]
    )
    confirm = PasswordField(
        "New password again", validators=[InputRequired("Please type the new password again.")]
    )


class SetPasswordForm(FlaskForm):
    password = PasswordField("Password", validators=[InputRequired("Please choose a password.")])
    confirm = PasswordField(
        "Password again", validators=[InputRequired("Please type the password again.")]
    )


class ForgotPasswordForm(FlaskForm):
    email = EmailField(
        "Email", validators=[InputRequired("Please enter your email."), Length(max=254)]
    )


class MemberForm(FlaskForm):
    email = EmailField(
        "Email", validators=[InputRequired("Please enter their email."), Length(max=254)]
    )
    role = SelectField("Role", choices=ROLE_CHOICES, default="member", validate_choice=False)


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES, validate_choice=False)


class SwitchWorkspaceForm(FlaskForm):
    # Checked against the person's own workspaces in the view.
    workspace_id = StringField("Workspace", validators=[InputRequired(), Length(max=20)])
