"""The forms of the testimonial inbox.

Whether an excerpt only cuts the customer's words is decided by
`testimonials.services.check_excerpt`, so the rule lives in one place.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import TextAreaField


class ExcerptForm(FlaskForm):
    excerpt = TextAreaField("Excerpt")
