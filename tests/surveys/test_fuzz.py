"""Whatever a customer (or a bot) sends, the form answers 303 or 422 and loses nothing."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from feedback.db import utcnow
from feedback.surveys.models import Response
from feedback.text import clean_text
from tests.factories import make_invitation, make_workspace
from tests.pages import csrf_token_from

ratings = st.one_of(
    st.integers(min_value=-3, max_value=12).map(str),
    st.text(max_size=5),
)
texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=2100)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rating=ratings,
    comment=texts,
    name=st.text(alphabet=st.characters(codec="utf-8"), max_size=100),
    opt_in=st.booleans(),
)
def test_any_submission_is_either_stored_cleanly_or_refused_with_422(
    client, db_session, rating, comment, name, opt_in
):
    workspace = make_workspace(db_session)
    link = make_invitation(db_session, workspace, now=utcnow())
    page = client.get(f"/s/{link.token}")
    data = {
        "csrf_token": csrf_token_from(page),
        "rating": rating,
        "comment": comment,
        "display_name": name,
    }
    if opt_in:
        data["testimonial_opt_in"] = "y"
    result = client.post(f"/s/{link.token}", data=data)
    stored = db_session.scalar(select(Response).where(Response.invitation_id == link.invitation.id))
    expected_comment = clean_text(comment, multiline=True)
    valid_rating = rating.isascii() and rating.isdigit() and 1 <= int(rating) <= 5
    comment_fits = expected_comment is None or len(expected_comment) <= 2000
    name_fits = not opt_in or len(clean_text(name, multiline=False) or "") <= 80
    acceptable = valid_rating and comment_fits and name_fits
    if acceptable:
        assert result.status_code == 303, result.text
        assert stored is not None and stored.comment == expected_comment
    else:
        assert result.status_code == 422
        assert stored is None
