"""The forms of a follow-up page.

Note lengths and who may be assigned are checked by `followups.services`,
after the text is cleaned, so the rules live in one place.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, TextAreaField


class AssignForm(FlaskForm):
    # Choices are the workspace's members, set by the view; the service decides
    # whether the one sent may have it.
    assignee = SelectField("Assigned to", choices=[], validate_choice=False)


class NoteForm(FlaskForm):
    note = TextAreaField("Add a note")


class ResolveForm(FlaskForm):
    resolution = TextAreaField("Closing note (optional)")
