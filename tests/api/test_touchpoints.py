"""POST /api/v1/touchpoints: one event in, one survey link out, exactly once."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from feedback.accounts.services import api_keys_of, create_api_key, revoke_api_key
from feedback.config import config_for_tests
from feedback.delivery.models import OutboxMessage
from feedback.extensions import db
from feedback.surveys.models import Contact, Invitation
from feedback.surveys.services import unsubscribe
from tests.factories import NOW, make_workspace
from tests.support.api import api_client_for, assert_error, event


def count(session, column, *where):
    session.expire_all()
    return session.scalar(select(func.count(column)).where(*where))


def test_an_event_creates_the_invitation_and_its_email_in_one_go(api, client, db_session):
    response = api.post("/api/v1/touchpoints", json=event())
    assert response.status_code == 201
    invitation = response.json["invitation"]
    assert set(invitation) == {"id", "url", "status", "expires_at"}
    assert invitation["status"] == "queued"
    assert invitation["url"].startswith("http://localhost/s/")
    # The link is the customer's form.
    assert client.get(invitation["url"].removeprefix("http://localhost")).status_code == 200
    row = db_session.get(Invitation, invitation["id"])
    assert row.workspace_id == api.workspace.id and row.event_id == "order-1"
    [message] = db_session.scalars(select(OutboxMessage)).all()
    assert message.payload["to"] == "ann@example.com"
    assert message.payload["meta"] == {"invitation_id": invitation["id"]}
    assert invitation["url"] in message.payload["text"]


def test_the_same_event_again_returns_the_same_invitation_and_sends_nothing_more(api, db_session):
    first = api.post("/api/v1/touchpoints", json=event())
    again = api.post("/api/v1/touchpoints", json=event(contact={"email": "ann@example.com"}))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["invitation"]["id"] == first.json["invitation"]["id"]
    assert again.json["invitation"]["url"] is None  # the link is never stored
    assert count(db_session, Invitation.id) == 1
    assert count(db_session, OutboxMessage.id) == 1


def test_send_false_records_the_invitation_without_an_email(api, db_session):
    response = api.post("/api/v1/touchpoints", json=event(send=False))
    assert response.status_code == 201
    assert response.json["invitation"]["status"] == "queued"
    assert count(db_session, OutboxMessage.id) == 0


def test_emails_are_normalised_so_one_customer_is_one_contact(api, db_session):
    api.post("/api/v1/touchpoints", json=event(contact={"email": "  Ann@Example.COM "}))
    api.post(
        "/api/v1/touchpoints",
        json=event(event_id="order-2", stage="retention", touchpoint="support-ticket-solved"),
    )
    assert db_session.scalars(select(Contact.email)).all() == ["ann@example.com"]


def test_a_contact_asked_recently_is_throttled_and_gets_no_email(api, db_session):
    api.post("/api/v1/touchpoints", json=event())
    second = api.post("/api/v1/touchpoints", json=event(event_id="order-2"))
    assert second.status_code == 201
    assert second.json["invitation"]["status"] == "throttled"
    assert second.json["invitation"]["url"] is None
    assert count(db_session, OutboxMessage.id) == 1


def test_an_unsubscribed_contact_gets_unsubscribed_even_when_also_throttled(api, db_session):
    api.post("/api/v1/touchpoints", json=event())
    unsubscribe(db_session, db_session.scalars(select(Contact)).one(), NOW)
    db_session.commit()
    second = api.post("/api/v1/touchpoints", json=event(event_id="order-2"))
    assert second.json["invitation"]["status"] == "unsubscribed"
    assert count(db_session, OutboxMessage.id) == 1


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, ["contact", "stage", "touchpoint"]),
        (event(contact={}), ["contact.email"]),
        (event(contact="ann@example.com"), ["contact"]),
        (event(stage=5), ["stage"]),
        (event(send="yes"), ["send"]),
        (event(occurred_at="last tuesday"), ["occurred_at"]),
        (event(occurred_at=1718000000), ["occurred_at"]),
        (event(occurred_at="1718000000"), ["occurred_at"]),
        (event(event_id=""), ["event_id"]),
        (event(event_id="x" * 201), ["event_id"]),
        (event(contact={"email": "not-an-address"}), ["contact.email"]),
        (event(contact={"email": "a@b@example.com"}), ["contact.email"]),
        (event(contact={"email": "ann@example.com", "name": "n" * 121}), ["contact.name"]),
        (event(stage="Purchase Decision!"), ["stage"]),
    ],
)
def test_missing_or_wrong_fields_answer_422_naming_each_field(api, db_session, body, fields):
    assert_error(api.post("/api/v1/touchpoints", json=body), 422, *fields)
    assert count(db_session, Invitation.id) == 0


def test_an_unknown_stage_or_touchpoint_answers_422_naming_it(api):
    assert_error(api.post("/api/v1/touchpoints", json=event(stage="nope")), 422, "stage")
    error = assert_error(
        api.post("/api/v1/touchpoints", json=event(touchpoint="ad-click")), 422, "touchpoint"
    )
    assert "touchpoint" in error["message"]


def test_a_body_that_is_not_json_answers_400(api):
    assert_error(api.post("/api/v1/touchpoints", data="email=ann@example.com"), 400)
    assert_error(
        api.post(
            "/api/v1/touchpoints",
            data="{not json",
            headers={"Content-Type": "application/json"},
        ),
        400,
    )
    assert_error(api.post("/api/v1/touchpoints", json=[event()]), 422, "body")


def test_an_oversize_body_answers_413_and_records_nothing(api, db_session):
    huge = event(contact={"email": "ann@example.com", "name": "x" * 70_000})
    assert_error(api.post("/api/v1/touchpoints", json=huge), 413)
    assert count(db_session, Invitation.id) == 0


def test_html_in_a_name_is_kept_as_text_and_escaped_in_the_email(api, db_session):
    name = '<script>alert("x")</script> & <b>Bob</b>'
    response = api.post(
        "/api/v1/touchpoints", json=event(contact={"email": "b@x.io", "name": name})
    )
    assert response.status_code == 201
    assert db_session.scalars(select(Contact.name)).one() == name
    html = db_session.scalars(select(OutboxMessage)).one().payload["html"]
    assert "<script>" not in html and "<b>Bob" not in html


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer fbk_wrong", "fbk_no_scheme"],
)
def test_calls_without_a_valid_key_answer_401(client, db_session, header):
    headers = {"Authorization": header} if header is not None else {}
    for method, path in [("post", "/api/v1/touchpoints"), ("get", "/api/v1/responses")]:
        response = getattr(client, method)(path, json=event(), headers=headers)
        assert_error(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert count(db_session, Invitation.id) == 0


def test_a_revoked_key_answers_401(api, db_session):
    assert api.get("/api/v1/stages").status_code == 200
    [api_key] = api_keys_of(db_session, api.workspace.id)
    revoke_api_key(db_session, api.workspace.id, api_key.id, NOW)
    db_session.commit()
    assert_error(api.get("/api/v1/stages"), 401)


def test_a_key_only_ever_touches_its_own_workspace(api, client, db_session):
    other = api_client_for(client, db_session, make_workspace(db_session))
    mine = api.post("/api/v1/touchpoints", json=event()).json["invitation"]
    theirs = other.post("/api/v1/touchpoints", json=event()).json["invitation"]
    # The same event_id in another workspace is another event.
    assert theirs["id"] != mine["id"] and theirs["url"] is not None
    rows = {i.id: i.workspace_id for i in db_session.scalars(select(Invitation))}
    assert rows == {mine["id"]: api.workspace.id, theirs["id"]: other.workspace.id}


def test_unknown_api_addresses_and_methods_answer_in_the_envelope(api):
    assert_error(api.get("/api/v1/nothing-here"), 404)
    response = api.client.delete("/api/v1/touchpoints", headers=api.headers())
    assert_error(response, 405)
    assert "POST" in response.headers["Allow"]


def test_two_requests_with_one_event_id_at_the_same_moment_make_one_invitation(
    app, api, db_session
):
    barrier = threading.Barrier(2)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def post() -> None:
        try:
            client = app.test_client()
            barrier.wait(timeout=10)
            response = client.post("/api/v1/touchpoints", json=event(), headers=api.headers())
            statuses.append(response.status_code)
        except BaseException as error:  # surfaced in the main thread
            errors.append(error)

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert sorted(statuses) == [200, 201]
    assert count(db_session, Invitation.id) == 1
    assert count(db_session, OutboxMessage.id) == 1


def test_a_later_event_updates_the_contacts_name_and_external_id(api, db_session):
    api.post("/api/v1/touchpoints", json=event(contact={"email": "ann@example.com"}))
    body = event(
        event_id="order-2",
        stage="retention",
        touchpoint="support-ticket-solved",
        contact={"email": "ANN@example.com", "name": "Ann Lee", "external_id": "cust-42"},
    )
    assert api.post("/api/v1/touchpoints", json=body).status_code == 201
    db_session.expire_all()
    [contact] = db_session.scalars(select(Contact)).all()
    assert (contact.name, contact.external_id) == ("Ann Lee", "cust-42")


def test_too_many_calls_with_one_key_answer_429_in_the_envelope(make_app, database_url):
    config = config_for_tests(database_url)
    config.API_RATE_LIMIT = "3/minute"
    limited = make_app(config)
    client = limited.test_client()
    with limited.app_context():
        workspace = make_workspace(db.session)
        key = create_api_key(db.session, workspace, "k", NOW).secret
        db.session.commit()
    headers = {"Authorization": f"Bearer {key}"}
    statuses = [client.get("/api/v1/stages", headers=headers).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = client.get("/api/v1/stages", headers=headers)
    assert_error(response, 429)
    assert int(response.headers["Retry-After"]) > 0
    # Another key is counted on its own.
    with limited.app_context():
        other = create_api_key(db.session, db.session.merge(workspace), "k2", NOW).secret
        db.session.commit()
    other_headers = {"Authorization": f"Bearer {other}"}
    assert client.get("/api/v1/stages", headers=other_headers).status_code == 200


def test_an_event_id_reused_for_another_customer_or_touchpoint_answers_409(api, db_session):
    assert api.post("/api/v1/touchpoints", json=event()).status_code == 201
    other_customer = event(contact={"email": "bob@example.com"})
    other_touchpoint = event(touchpoint="order-delivered")
    for body in (other_customer, other_touchpoint):
        error = assert_error(api.post("/api/v1/touchpoints", json=body), 409, "event_id")
        assert "order-1" in error["message"]
    assert count(db_session, Invitation.id) == 1
    assert count(db_session, OutboxMessage.id) == 1
