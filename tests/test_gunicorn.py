"""The real app under gunicorn, answered over HTTP like a customer's phone would."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from feedback.db import utcnow
from feedback.surveys.models import Invitation, Response
from tests.factories import make_invitation, make_workspace
from tests.pages import csrf_token_from


@pytest.mark.slow
def test_a_customer_answers_a_survey_through_gunicorn(live_server, db_session):
    workspace = make_workspace(db_session, "Greenleaf Plants")
    link = make_invitation(db_session, workspace, now=utcnow())
    with requests.Session() as browser:
        form = browser.get(f"{live_server}/s/{link.token}", timeout=10)
        assert form.status_code == 200
        assert "Greenleaf Plants" in form.text
        result = browser.post(
            f"{live_server}/s/{link.token}",
            data={
                "csrf_token": csrf_token_from(form.text),
                "rating": "2",
                "comment": "The fern arrived with broken fronds.",
                "testimonial_opt_in": "y",
                "display_name": "Sam",
            },
            allow_redirects=False,
            timeout=10,
        )
        assert result.status_code == 303, result.text
        thanks = browser.get(f"{live_server}{result.headers['Location']}", timeout=10)
        assert thanks.status_code == 200
        assert "will get back to you" in thanks.text
        again = browser.get(f"{live_server}/s/{link.token}", timeout=10)
        assert again.status_code == 409
    db_session.expire_all()
    response = db_session.scalar(select(Response))
    assert (response.rating, response.testimonial_opt_in) == (2, True)
    assert response.sentiment_label is not None
    assert db_session.scalar(select(Invitation.status)) == "answered"
