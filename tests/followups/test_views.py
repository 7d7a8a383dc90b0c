"""/follow-ups: the queue, one follow-up, and the actions on it, through the test client."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from feedback.db import utcnow
from feedback.delivery.models import OutboxMessage
from feedback.followups.services import resolve_follow_up
from feedback.surveys.models import Response
from tests.factories import (
    PASSWORD,
    add_member,
    make_owner,
    make_response,
    make_workspace,
    unhappy,
    unhappy_open_link,
)
from tests.pages import csrf_token_from

HOUR = dt.timedelta(hours=1)


def rows(page) -> list[str]:
    """The queue table's body rows."""
    body = page.text.split("<tbody>")[1].split("</tbody>")[0]
    return re.findall(r"<tr[^>]*>.*?</tr>", body, re.S)


def logged_in(client, auth, db_session, name: str | None = None):
    owner, workspace = make_owner(db_session, name)
    auth.login(owner.email, PASSWORD)
    return owner, workspace


def test_the_queue_shows_open_follow_ups_only_with_what_an_owner_needs(client, db_session, auth):
    _, workspace = logged_in(client, auth, db_session)
    now = utcnow()
    sad = unhappy(db_session, workspace, now=now - HOUR, comment="Broken pot")
    make_response(db_session, workspace, rating=5, comment="Lovely plants", now=now)
    done = unhappy(db_session, workspace, now=now - HOUR, comment="Late again")
    resolve_follow_up(db_session, workspace.id, done.id, now)
    db_session.commit()
    page = client.get("/follow-ups")
    assert page.status_code == 200
    [row] = rows(page)
    assert "Purchase decision" in row and "Checkout" in row
    assert '1<span class="muted">/5</span>' in row
    assert "Broken pot" in row and sad.contact.email in row
    assert "Due in 22 h" in row and "overdue" not in row and "Nobody" in row
    assert f'href="/follow-ups/{sad.id}"' in row
    assert "Lovely plants" not in page.text and "Late again" not in page.text
    assert 'href="/follow-ups" aria-current="page">Follow-ups</a>' in page.text


def test_overdue_follow_ups_say_so_in_words_and_carry_a_class(client, db_session, auth):
    _, workspace = logged_in(client, auth, db_session)
    now = utcnow()
    unhappy(db_session, workspace, now=now - 29 * HOUR - dt.timedelta(minutes=10))
    unhappy(db_session, workspace, now=now - HOUR)
    late, fresh = rows(client.get("/follow-ups"))
    assert late.startswith('<tr class="overdue">')
    assert '<span class="due overdue">Overdue by 5 h</span>' in late
    assert '<span class="due">Due in 22 h</span>' in fresh and "overdue" not in fresh


def test_open_link_answers_show_as_anonymous(client, db_session, auth):
    _, workspace = logged_in(client, auth, db_session)
    response = unhappy_open_link(db_session, workspace, now=utcnow())
    [row] = rows(client.get("/follow-ups"))
    assert "Anonymous (open link)" in row and "mailto:" not in row
    page = client.get(f"/follow-ups/{response.id}")
    assert page.status_code == 200 and "no one to write to" in page.text


def test_filters_combine_and_pagination_keeps_them(client, db_session, auth):
    owner, workspace = logged_in(client, auth, db_session)
    now = utcnow()
    for _ in range(26):
        unhappy(db_session, workspace, now=now - 30 * HOUR)
    unhappy(db_session, workspace, now=now - HOUR)
    unhappy(
        db_session,
        workspace,
        now=now - 30 * HOUR,
        stage="retention",
        touchpoint="onboarding-complete",
        comment="Onboarding was a mess",
    )
    first = client.get("/follow-ups?show=overdue&stage=purchase")
    assert len(rows(first)) == 25 and 'rel="prev"' not in first.text
    assert "26 overdue in Purchase decision" in first.text
    assert "Onboarding was a mess" not in first.text
    next_link = re.search(r'href="([^"]+)" rel="next"', first.text).group(1)
    query = dict(part.split("=", 1) for part in next_link.split("?")[1].split("&amp;"))
    assert query.keys() == {"show", "stage", "after"}
    assert (query["show"], query["stage"]) == ("overdue", "purchase")
    second = client.get(next_link.replace("&amp;", "&"))
    assert len(rows(second)) == 1
    assert 'rel="prev"' in second.text and 'rel="next"' not in second.text
    broken = client.get("/follow-ups?show=all&after=" + query["after"])
    assert broken.status_code == 400 and "That page link was not valid" in broken.text
    # The filter links keep the stage, the stage links keep the filter.
    assert 'href="/follow-ups?show=all&amp;stage=purchase"' in first.text
    assert 'href="/follow-ups?show=overdue&amp;stage=retention"' in first.text
    everything = client.get("/follow-ups?show=all")
    assert "28 all" in everything.text
    mine = client.get("/follow-ups?show=mine")
    assert "Nothing open is assigned to you." in mine.text
    assert owner.email not in "".join(rows(everything))


def test_unknown_filter_values_fall_back_to_the_open_queue(client, db_session, auth):
    _, workspace = logged_in(client, auth, db_session)
    unhappy(db_session, workspace, now=utcnow())
    page = client.get("/follow-ups?show=<script>&stage=nope&page=banana")
    assert page.status_code == 200 and len(rows(page)) == 1
    assert "<script>" not in page.text
    assert 'href="/follow-ups?show=open" aria-current="page">Open</a>' in page.text


def test_empty_queues_say_what_would_appear_there(client, db_session, auth):
    logged_in(client, auth, db_session)
    expected = {
        "open": "No open follow-ups. When a customer answers unhappily",
        "overdue": "Nothing is overdue: every open follow-up is still within its 24 hours.",
        "mine": "Nothing open is assigned to you.",
        "resolved": "Nothing has been resolved yet.",
        "all": "No follow-ups yet.",
    }
    for show, text in expected.items():
        page = client.get(f"/follow-ups?show={show}")
        assert page.status_code == 200 and text in page.text, show
        assert "<table" not in page.text
    retention = client.get("/follow-ups?stage=retention")
    assert "No open follow-ups in Retention." in retention.text


def test_the_follow_up_page_shows_the_answer_escaped_with_its_forms(client, db_session, auth):
    owner, workspace = logged_in(client, auth, db_session)
    member = add_member(db_session, workspace, "helper@example.com")
    response = unhappy(
        db_session, workspace, now=utcnow(), comment='<img src=x onerror="alert(1)"> awful'
    )
    page = client.get(f"/follow-ups/{response.id}")
    assert page.status_code == 200
    assert "<img src=x" not in page.text
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; awful" in page.text
    assert response.contact.email in page.text and "1 / 5" in page.text
    assert f'<option value="{member.id}">helper@example.com</option>' in page.text
    assert f'<option value="{owner.id}">{owner.email}</option>' in page.text
    assert "No notes yet." in page.text and "Mark resolved" in page.text
    assert "Reopen" not in page.text
    [row] = rows(client.get("/follow-ups"))
    assert "<img src=x" not in row and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in row


def test_an_owner_assigns_notes_resolves_and_reopens_a_follow_up(client, db_session, auth):
    owner, workspace = logged_in(client, auth, db_session)
    member = add_member(db_session, workspace, "helper@example.com")
    response = unhappy(db_session, workspace, now=utcnow())
    url = f"/follow-ups/{response.id}"
    token = csrf_token_from(client.get(url))

    assigned = client.post(f"{url}/assign", data={"csrf_token": token, "assignee": member.id})
    assert assigned.status_code == 303 and assigned.headers["Location"] == url
    page = client.get(url)
    assert "Assigned to helper@example.com." in page.text
    assert f'<option selected value="{member.id}">' in page.text

    noted = client.post(
        f"{url}/notes", data={"csrf_token": token, "note": "Called <b>twice</b>, no answer."}
    )
    assert noted.status_code == 303
    page = client.get(url)
    assert "Note added." in page.text and "Called &lt;b&gt;twice&lt;/b&gt;, no answer." in page.text
    assert owner.email in page.text.split('class="notes"')[1]

    resolved = client.post(f"{url}/resolve", data={"csrf_token": token, "resolution": "Refunded."})
    assert resolved.status_code == 303
    page = client.get(url)
    assert "Resolved." in page.text and "Refunded." in page.text and "Reopen" in page.text
    again = client.post(f"{url}/resolve", data={"csrf_token": token, "resolution": ""})
    assert again.status_code == 303
    assert "This follow-up is resolved already." in client.get(url).text
    db_session.expire_all()
    assert (response.follow_up_state, response.assignee_id) == ("resolved", member.id)
    assert "Resolved" in rows(client.get("/follow-ups?show=resolved"))[0]

    reopened = client.post(f"{url}/reopen", data={"csrf_token": token})
    assert reopened.status_code == 303
    assert "Reopened." in client.get(url).text
    unassigned = client.post(f"{url}/assign", data={"csrf_token": token, "assignee": ""})
    assert unassigned.status_code == 303
    db_session.expire_all()
    assert (response.follow_up_state, response.resolved_at, response.assignee_id) == (
        "open",
        None,
        None,
    )
    assert "Called <b>twice</b>, no answer." in response.resolution_note


def test_assigning_someone_outside_the_workspace_is_refused(client, db_session, auth):
    _, workspace = logged_in(client, auth, db_session)
    outsider, _ = make_owner(db_session)
    response = unhappy(db_session, workspace, now=utcnow())
    url = f"/follow-ups/{response.id}"
    token = csrf_token_from(client.get(url))
    for value in (outsider.id, "999999", "2147483648", "999999999999", "me", "1 OR 1=1"):
        refused = client.post(f"{url}/assign", data={"csrf_token": token, "assignee": value})
        assert refused.status_code == 422, value
        assert '<p class="error" id="assignee-error">Choose someone from the list' in refused.text
    db_session.expire_all()
    assert response.assignee_id is None


def test_a_note_too_long_comes_back_with_the_text_kept_and_nothing_lost(client, db_session, auth):
    _, workspace = logged_in(client, auth, db_session)
    response = unhappy(db_session, workspace, now=utcnow())
    url = f"/follow-ups/{response.id}"
    token = csrf_token_from(client.get(url))
    client.post(f"{url}/notes", data={"csrf_token": token, "note": "Earlier note"})
    long_note = "Spoke to them at length. " * 100
    refused = client.post(f"{url}/notes", data={"csrf_token": token, "note": long_note})
    assert refused.status_code == 422
    assert "Please keep a note under 2,000 characters (this one has 2,499)." in refused.text
    assert long_note.strip() in refused.text and "Earlier note" in refused.text
    empty = client.post(f"{url}/notes", data={"csrf_token": token, "note": "   "})
    assert empty.status_code == 422 and "Write a note first." in empty.text
    closing = client.post(f"{url}/resolve", data={"csrf_token": token, "resolution": long_note})
    assert closing.status_code == 422 and 'id="resolution-error"' in closing.text
    # The other forms on the re-shown page do not pick up the refused text.
    assert closing.text.count(long_note.strip()) == 1
    db_session.expire_all()
    assert response.follow_up_state == "open"
    assert response.resolution_note.endswith("Earlier note")


def test_another_workspaces_follow_up_is_not_found_anywhere(client, db_session, auth):
    logged_in(client, auth, db_session)
    theirs = unhappy(db_session, make_workspace(db_session), now=utcnow())
    token = csrf_token_from(client.get("/follow-ups"))
    url = f"/follow-ups/{theirs.id}"
    assert client.get(url).status_code == 404
    for action, data in (
        ("assign", {"assignee": ""}),
        ("notes", {"note": "hello"}),
        ("resolve", {"resolution": ""}),
        ("reopen", {}),
    ):
        assert client.post(f"{url}/{action}", data={"csrf_token": token, **data}).status_code == 404
    assert "No open follow-ups" in client.get("/follow-ups").text
    db_session.expire_all()
    assert (theirs.follow_up_state, theirs.resolution_note) == ("open", None)


def test_a_happy_answer_has_no_follow_up_page(client, db_session, auth):
    _, workspace = logged_in(client, auth, db_session)
    happy = make_response(db_session, workspace, rating=5, now=utcnow())
    assert client.get(f"/follow-ups/{happy.id}").status_code == 404
    assert client.get("/follow-ups/999999").status_code == 404


def test_posts_without_a_csrf_token_are_refused(client, db_session, auth):
    _, workspace = logged_in(client, auth, db_session)
    response = unhappy(db_session, workspace, now=utcnow())
    url = f"/follow-ups/{response.id}"
    for action, data in (
        ("assign", {"assignee": ""}),
        ("notes", {"note": "hello"}),
        ("resolve", {"resolution": ""}),
        ("reopen", {}),
    ):
        refused = client.post(f"{url}/{action}", data=data)
        assert refused.status_code == 400, action
        assert "The form had expired" in refused.text
    db_session.expire_all()
    assert (response.follow_up_state, response.resolution_note) == ("open", None)


def test_follow_up_pages_need_a_login(client, db_session):
    response = unhappy(db_session, make_workspace(db_session), now=utcnow())
    assert client.get("/follow-ups").status_code == 302
    assert client.get(f"/follow-ups/{response.id}").status_code == 302
    assert db_session.scalar(select(Response.follow_up_state)) == "open"


def test_a_colleague_given_a_follow_up_gets_one_email_and_nobody_else_does(
    client, db_session, auth
):
    owner, workspace = logged_in(client, auth, db_session)
    member = add_member(db_session, workspace, "helper@example.com")
    response = unhappy(db_session, workspace, now=utcnow())
    url = f"/follow-ups/{response.id}"
    token = csrf_token_from(client.get(url))

    def assign(who: object) -> None:
        sent = client.post(f"{url}/assign", data={"csrf_token": token, "assignee": who})
        assert sent.status_code == 303

    assign(member.id)
    assign(member.id)  # pressed twice: still one email
    assign(owner.id)  # to yourself: no email
    assign("")
    db_session.expire_all()
    emails = [m.payload for m in db_session.scalars(select(OutboxMessage))]
    assigned = [e for e in emails if "a follow-up for you" in e["subject"]]
    assert [e["to"] for e in assigned] == ["helper@example.com"]
    text = assigned[0]["text"]
    assert owner.email in text and f"http://localhost/follow-ups/{response.id}" in text
    assert response.stage.name in text
