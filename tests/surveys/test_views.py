from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from feedback.db import utcnow
from feedback.surveys.models import Invitation, Response
from feedback.testimonials.models import Testimonial
from tests.factories import make_invitation, make_workspace
from tests.pages import csrf_token_from


@pytest.fixture
def workspace(db_session):
    return make_workspace(db_session, "Greenleaf Plants")


@pytest.fixture
def link(db_session, workspace):
    """A fresh personal link for the purchase stage (CSAT 1-5)."""
    return make_invitation(db_session, workspace, now=utcnow())


def answer(client, token, **fields):
    page = client.get(f"/s/{token}")
    data = {"csrf_token": csrf_token_from(page), **fields}
    return client.post(f"/s/{token}", data=data)


def test_the_form_shows_the_business_the_question_and_the_stages_scale(
    client, db_session, workspace
):
    link = make_invitation(
        db_session, workspace, stage="advocacy", touchpoint="renewal", now=utcnow()
    )
    page = client.get(f"/s/{link.token}")
    assert page.status_code == 200
    assert "Greenleaf Plants" in page.text
    assert "How likely are you to recommend Greenleaf Plants" in page.text
    values = re.findall(r'<input type="radio" id="rating-(\d+)" name="rating"', page.text)
    assert values == [str(v) for v in range(11)]
    assert workspace.consent_text in page.text


def test_the_form_is_accessible_without_javascript_and_small(client, link):
    page = client.get(f"/s/{link.token}")
    html = page.text
    assert "<script" not in html
    assert len(page.data) < 30 * 1024
    assert re.search(r"<fieldset[^>]*>\s*<legend>", html)
    visible = r'<(?:input|textarea)(?![^>]*type="hidden")[^>]* id="([^"]+)"'
    for input_id in re.findall(visible, html):
        assert f'for="{input_id}"' in html, f"{input_id} has no label"
    assert 'name="viewport"' in html and 'lang="en"' in html
    assert "min-height:2.75rem" in html  # 44 px touch targets


def test_opening_the_link_marks_the_invitation_opened(client, db_session, link):
    client.get(f"/s/{link.token}")
    db_session.expire_all()
    invitation = db_session.get(Invitation, link.invitation.id)
    assert invitation.status == "opened" and invitation.opened_at is not None


def test_a_valid_answer_redirects_to_a_thanks_page_for_its_stage(client, db_session, link):
    result = answer(client, link.token, rating="5", comment="Lovely fern, quick delivery!")
    assert result.status_code == 303
    assert result.headers["Location"] == f"/s/{link.token}/thanks"
    thanks = client.get(result.headers["Location"])
    assert thanks.status_code == 200
    assert "Thank you for telling us about your order." in thanks.text
    assert "get back to you" not in thanks.text
    stored = db_session.scalar(select(Response))
    assert (stored.rating, stored.comment, stored.sentiment_label) == (
        5,
        "Lovely fern, quick delivery!",
        "positive",
    )


def test_an_unhappy_customer_is_told_the_business_will_get_back_to_them(client, link):
    result = answer(client, link.token, rating="1", comment="")
    thanks = client.get(result.headers["Location"])
    assert "will get back to you" in thanks.text


@pytest.mark.parametrize(
    "rating", [None, "", "abc", "0", "6", "-1", "2.5", "1e1", "\uff15", " 5", "1_0"]
)
def test_a_bad_or_missing_rating_re_renders_with_a_message_and_keeps_the_comment(
    client, db_session, link, rating
):
    fields = {"comment": "Kept <b>exactly</b> as typed", "display_name": "Ann"}
    if rating is not None:
        fields["rating"] = rating
    page = answer(client, link.token, testimonial_opt_in="y", **fields)
    assert page.status_code == 422
    assert "Please choose a rating from 1 to 5." in page.text
    assert "Kept &lt;b&gt;exactly&lt;/b&gt; as typed</textarea>" in page.text
    assert 'value="Ann"' in page.text
    assert re.search(r'id="testimonial_opt_in"[^>]*checked', page.text)
    assert db_session.scalar(select(func.count(Response.id))) == 0


def test_a_comment_over_the_limit_is_refused_and_kept(client, db_session, link):
    long_comment = "slow " * 401
    page = answer(client, link.token, rating="3", comment=long_comment)
    assert page.status_code == 422
    assert "under 2,000 characters" in page.text
    assert long_comment.strip() in page.text
    assert db_session.scalar(select(func.count(Response.id))) == 0


def test_a_display_name_over_the_limit_is_refused(client, link):
    page = answer(client, link.token, rating="4", testimonial_opt_in="y", display_name="N" * 81)
    assert page.status_code == 422
    assert "under 80 characters" in page.text


def test_nul_and_control_characters_are_dropped_not_fatal(client, db_session, link):
    result = answer(
        client,
        link.token,
        rating="4",
        comment="Fine\x00 service\x07",
        display_name="A\x00nn",
        testimonial_opt_in="y",
    )
    assert result.status_code == 303
    assert db_session.scalar(select(Response.comment)) == "Fine service"
    assert db_session.scalar(select(Testimonial.display_name)) == "Ann"


def test_html_in_comment_and_name_is_stored_as_typed_and_escaped_when_shown(
    client, db_session, link
):
    script = '<script>alert("x")</script>'
    page = answer(
        client, link.token, rating="9", comment=script, testimonial_opt_in="y", display_name=script
    )
    assert page.status_code == 422
    assert script not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text
    result = answer(
        client, link.token, rating="4", comment=script, testimonial_opt_in="y", display_name=script
    )
    assert result.status_code == 303
    assert db_session.scalar(select(Response.comment)) == script
    assert db_session.scalar(select(Testimonial.display_name)) == script


def test_a_missing_or_wrong_csrf_token_is_refused_but_keeps_the_answer(client, db_session, link):
    client.get(f"/s/{link.token}")
    for token in (None, "forged"):
        data = {"rating": "2", "comment": "Keep me please"}
        if token:
            data["csrf_token"] = token
        page = client.post(f"/s/{link.token}", data=data)
        assert page.status_code == 400
        assert "please press Send again" in page.text
        assert "Keep me please</textarea>" in page.text
        assert (
            'id="rating-2" name="rating" value="2" required\n        checked' in page.text
            or re.search(r'id="rating-2"[^>]*checked', page.text)
        )
    assert db_session.scalar(select(func.count(Response.id))) == 0
    retry = client.post(
        f"/s/{link.token}",
        data={"rating": "2", "comment": "Keep me please", "csrf_token": csrf_token_from(page)},
    )
    assert retry.status_code == 303


def test_an_answered_link_shows_a_409_page_on_open_and_on_submit(client, link):
    assert answer(client, link.token, rating="5").status_code == 303
    page = client.get(f"/s/{link.token}")
    assert page.status_code == 409
    assert "already answered" in page.text
    again = client.post(
        f"/s/{link.token}",
        data={"rating": "1", "csrf_token": csrf_token_from(client.get("/login"))},
    )
    assert again.status_code == 409


def test_an_expired_link_shows_a_410_page(client, db_session, workspace):
    old = make_invitation(db_session, workspace, now=utcnow() - dt.timedelta(days=31))
    page = client.get(f"/s/{old.token}")
    assert page.status_code == 410
    assert "expired" in page.text
    db_session.expire_all()
    assert db_session.get(Invitation, old.invitation.id).status == "expired"


@pytest.mark.parametrize("token", ["nope", "x" * 200, "%00", "../../etc/passwd"])
def test_an_unknown_link_shows_a_friendly_404_page(client, token):
    page = client.get(f"/s/{token}")
    assert page.status_code == 404
    assert "could not find this survey" in page.text or "Page not found" in page.text


def test_thanks_before_answering_goes_back_to_the_form(client, link):
    page = client.get(f"/s/{link.token}/thanks")
    assert page.status_code == 302
    assert page.headers["Location"] == f"/s/{link.token}"
    assert client.get("/s/unknown/thanks").status_code == 404


def test_an_oversize_body_is_refused_with_413(client, link):
    page = client.post(f"/s/{link.token}", data={"comment": "x" * 70_000, "rating": "5"})
    assert page.status_code == 413
    assert "larger than we accept" in page.text


def test_survey_pages_send_no_referrer_and_cannot_be_framed(client, link):
    page = client.get(f"/s/{link.token}")
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_a_token_shows_only_its_own_workspace(client, db_session, workspace):
    other = make_workspace(db_session, "Other Business Ltd")
    link = make_invitation(db_session, other, now=utcnow())
    page = client.get(f"/s/{link.token}")
    assert "Other Business Ltd" in page.text
    assert "Greenleaf Plants" not in page.text
    answer(client, link.token, rating="5")
    thanks = client.get(f"/s/{link.token}/thanks")
    assert "Other Business Ltd" in thanks.text and "Greenleaf Plants" not in thanks.text


def test_a_name_typed_without_the_opt_in_is_ignored_not_refused(client, db_session, link):
    result = answer(client, link.token, rating="4", display_name="N" * 200)
    assert result.status_code == 303
    assert db_session.scalar(select(func.count(Testimonial.id))) == 0


def test_an_oversize_login_body_is_refused_with_413(client):
    page = client.post("/login", data={"email": "a@example.com", "password": "x" * 70_000})
    assert page.status_code == 413
