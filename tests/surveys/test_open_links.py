"""Open stage links (a QR code at the counter): anonymous answers, once per form."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from feedback.insights.models import StageDailyStat
from feedback.journey.models import Touchpoint
from feedback.surveys.models import Response
from tests.factories import PASSWORD, make_owner, make_workspace
from tests.pages import csrf_token_from


def open_form(client, path):
    page = client.get(path)
    assert page.status_code == 200, page.text
    key = re.search(r'name="submission_key" value="([0-9a-f]{32})"', page.text).group(1)
    return page, {"csrf_token": csrf_token_from(page), "submission_key": key}


def test_an_open_link_takes_an_anonymous_answer_for_its_touchpoint(client, db_session):
    workspace = make_workspace(db_session, "Greenleaf Plants")
    path = f"/f/{workspace.slug}/purchase?tp=order-delivered"
    page, fields = open_form(client, path)
    assert "Greenleaf Plants" in page.text and "How satisfied are you" in page.text
    result = client.post(path, data={**fields, "rating": "2", "comment": "Box was crushed."})
    assert result.status_code == 303
    thanks = client.get(result.headers["Location"])
    assert "Thank you for telling us about your order." in thanks.text
    assert "contact them directly" in thanks.text  # nobody to call back
    response = db_session.scalar(select(Response))
    assert (response.invitation_id, response.contact_id, response.rating) == (None, None, 2)
    assert db_session.get(Touchpoint, response.touchpoint_id).key == "order-delivered"
    assert db_session.scalar(select(func.sum(StageDailyStat.responses))) == 1


def test_a_double_submit_of_one_open_form_stores_one_response(client, db_session):
    workspace = make_workspace(db_session)
    path = f"/f/{workspace.slug}/purchase?tp=checkout"
    _page, fields = open_form(client, path)
    first = client.post(path, data={**fields, "rating": "5"})
    second = client.post(path, data={**fields, "rating": "5"})
    assert (first.status_code, second.status_code) == (303, 303)
    assert db_session.scalar(select(func.count(Response.id))) == 1
    _page, other = open_form(client, path)
    client.post(path, data={**other, "rating": "4"})
    assert db_session.scalar(select(func.count(Response.id))) == 2


def test_without_a_touchpoint_the_stage_gets_its_open_link_touchpoint(client, db_session):
    workspace = make_workspace(db_session)
    path = f"/f/{workspace.slug}/advocacy"
    for _ in range(2):
        _page, fields = open_form(client, path)
        assert client.post(path, data={**fields, "rating": "9"}).status_code == 303
    keys = db_session.scalars(
        select(Touchpoint.key).join(Response, Response.touchpoint_id == Touchpoint.id)
    ).all()
    assert keys == ["open-link", "open-link"]


def test_bad_open_links_and_bad_answers_are_refused(client, db_session):
    workspace = make_workspace(db_session)
    other = make_workspace(db_session)
    for path in (
        "/f/nope/purchase",
        f"/f/{workspace.slug}/nope",
        f"/f/{workspace.slug}/purchase?tp=renewal",
    ):
        assert client.get(path).status_code == 404
    path = f"/f/{workspace.slug}/purchase?tp=checkout"
    _page, fields = open_form(client, path)
    bad = client.post(path, data={**fields, "rating": "9", "comment": "kept <i>text</i>"})
    assert bad.status_code == 422
    assert "Please choose a rating from 1 to 5." in bad.text
    assert "kept &lt;i&gt;text&lt;/i&gt;</textarea>" in bad.text
    stale = client.post(
        path,
        data={"rating": "3", "comment": "still here", "submission_key": fields["submission_key"]},
    )
    assert stale.status_code == 400 and "please press Send again" in stale.text
    assert "still here</textarea>" in stale.text
    assert f'value="{fields["submission_key"]}"' in stale.text
    assert db_session.scalar(select(func.count(Response.id))) == 0
    assert client.get(f"/f/{other.slug}/purchase?tp=checkout").status_code == 200


def test_open_links_are_rate_limited_per_client(client, db_session):
    workspace = make_workspace(db_session)
    path = f"/f/{workspace.slug}/purchase?tp=checkout"
    statuses = []
    for _ in range(31):
        _page, fields = open_form(client, path)
        statuses.append(client.post(path, data={**fields, "rating": "4"}).status_code)
    assert statuses[:30] == [303] * 30 and statuses[30] == 429


def test_owners_get_every_open_link_with_a_printable_qr_code(client, db_session, auth):
    user, workspace = make_owner(db_session, "Greenleaf Plants")
    auth.login(user.email, PASSWORD)
    page = client.get("/settings/links")
    assert page.status_code == 200
    assert page.text.count("<svg") == 10
    assert f"http://localhost/f/{workspace.slug}/retention?tp=support-ticket-solved" in page.text
    png = client.get("/settings/links/retention/qr.png?tp=support-ticket-solved")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert png.data.startswith(b"\x89PNG")
    svg = client.get("/settings/links/retention/qr.svg?tp=support-ticket-solved")
    assert svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    assert client.get("/settings/links/retention/qr.gif").status_code == 404
    assert client.get("/settings/links/nope/qr.png").status_code == 404
    assert client.get("/settings/links/retention/qr.png?tp=checkout").status_code == 404


@pytest.mark.parametrize(
    ("rating", "comment", "unhappy"),
    [
        ("5", "Terrible. The pot arrived smashed and nobody answered my emails.", True),
        ("1", "", True),
        ("5", "Lovely fern, quick delivery!", False),
        ("4", "", False),
    ],
)
def test_the_open_thanks_page_and_the_follow_up_agree_on_unhappy(
    client, db_session, rating, comment, unhappy
):
    workspace = make_workspace(db_session)
    path = f"/f/{workspace.slug}/purchase?tp=checkout"
    _page, fields = open_form(client, path)
    data = {**fields, "rating": rating, "comment": comment}
    for _ in range(2):  # a double submit gets the same page
        result = client.post(path, data=data)
        thanks = client.get(result.headers["Location"])
        assert ("contact them directly" in thanks.text) is unhappy
        assert ("It helps" in thanks.text) is not unhappy
    response = db_session.scalar(select(Response))
    assert response.follow_up_state == ("open" if unhappy else "none")
