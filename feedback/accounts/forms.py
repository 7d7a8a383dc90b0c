"""Owner login."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import InputRequired, Length


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
