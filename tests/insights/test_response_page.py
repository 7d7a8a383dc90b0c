"""One response in full at /responses/<id>."""

from __future__ import annotations

import re

from feedback.answers import submit_open_response
from feedback.surveys.services import Answer, find_open_link
from tests.factories import NOW, PASSWORD, make_owner, make_response, make_workspace
from tests.pages import csrf_token_from


def test_the_page_shows_the_answer_its_scores_the_customer_and_the_link(client, db_session, auth):
    user, workspace = make_owner(db_session)
    response = make_response(
        db_session,
        workspace,
        rating=2,
        comment="The pot arrived <b>cracked</b> & soil everywhere.",
        opt_in=True,
        display_name="<script>alert(1)</script>",
        display_role="Owner, Fern & Co",
    )
    auth.login(user.email, PASSWORD)
    page = client.get(f"/responses/{response.id}")
    assert page.status_code == 200
    text = page.text
    assert "Purchase decision · Checkout" in text
    assert "2 / 5" in text and "unhappy" in text
    assert "The pot arrived &lt;b&gt;cracked&lt;/b&gt; &amp; soil everywhere." in text
    assert f"label-{response.sentiment_label}" in text and response.sentiment_version in text
    address = response.contact.email.replace("@", "%40")
    subject = "Your%20feedback%20to%20" + workspace.name.replace(" ", "%20")
    assert f'href="mailto:{address}?subject={subject}%20%28Purchase%20decision%29"' in text
    follow_up = client.get(f"/follow-ups/{response.id}").text
    assert f'href="mailto:{address}?subject={subject}%20%28Purchase%20decision%29"' in follow_up
    timeline = re.search(r"<dt>Survey link</dt><dd>(.*?)</dd>", text, re.S)
    assert timeline is not None
    steps = [step.split()[0] for step in " ".join(timeline.group(1).split()).split("; ")]
    assert steps == ["Created", "sent", "answered"]  # the factory's link was never opened
    assert f'href="/follow-ups/{response.id}"' in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;, Owner, Fern &amp; Co" in text
    assert "<script>alert(1)" not in text
    assert "Version 1, given" in text
    listing = client.get("/responses")
    assert f'href="/responses/{response.id}"' in listing.text


def test_an_open_link_answer_says_it_is_anonymous_and_has_no_follow_up(client, db_session, auth):
    user, workspace = make_owner(db_session)
    link = find_open_link(db_session, workspace.slug, "purchase", None)
    response = submit_open_response(db_session, link, Answer(rating=5), "a" * 32, NOW)
    db_session.commit()
    auth.login(user.email, PASSWORD)
    text = client.get(f"/responses/{response.id}").text
    assert "Anonymous: answered through an open link" in text
    assert "None: there is no comment to score." in text
    assert "None: neither the rating nor the comment was unhappy." in text
    assert "did not say you may quote them" in text
    assert "Survey link" not in text


def test_another_workspaces_or_unknown_response_is_not_found(client, db_session, auth):
    user, _mine = make_owner(db_session)
    theirs = make_response(db_session, make_workspace(db_session), comment="Secret of theirs")
    auth.login(user.email, PASSWORD)
    for path in (f"/responses/{theirs.id}", "/responses/999999", "/responses/0"):
        page = client.get(path)
        assert page.status_code == 404 and "Secret of theirs" not in page.text, path
    assert client.get("/responses/abc").status_code == 404


def test_the_response_page_needs_a_login(client, db_session):
    response = make_response(db_session, make_workspace(db_session))
    page = client.get(f"/responses/{response.id}")
    assert page.status_code == 302 and "/login" in page.headers["Location"]


def test_an_owner_follows_up_an_answer_from_its_page_once(client, db_session, auth):
    user, workspace = make_owner(db_session)
    response = make_response(db_session, workspace, rating=4, comment="Delivery was slow.")
    auth.login(user.email, PASSWORD)
    page = client.get(f"/responses/{response.id}")
    assert "Follow this up anyway" in page.text
    token = csrf_token_from(page)
    started = client.post(f"/follow-ups/{response.id}/start", data={"csrf_token": token})
    assert started.status_code == 303
    assert started.headers["Location"].endswith(f"/follow-ups/{response.id}")
    assert "Follow-up opened" in client.get(started.headers["Location"]).text
    assert "Follow this up anyway" not in client.get(f"/responses/{response.id}").text
    again = client.post(f"/follow-ups/{response.id}/start", data={"csrf_token": token})
    assert again.status_code == 303
    assert "has a follow-up already" in client.get(again.headers["Location"]).text
    assert "Delivery was slow." in client.get("/follow-ups").text
    theirs = make_response(db_session, make_workspace(db_session), rating=5)
    assert (
        client.post(f"/follow-ups/{theirs.id}/start", data={"csrf_token": token}).status_code == 404
    )
    assert client.post(f"/follow-ups/{response.id}/start", data={}).status_code == 400
