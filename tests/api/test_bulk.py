"""POST /api/v1/touchpoints/bulk: up to 1,000 events, each on its own merits."""

from __future__ import annotations

from sqlalchemy import func, select

from feedback.delivery.models import OutboxMessage
from feedback.surveys.models import Invitation
from tests.support.api import assert_error, event


def count(session, column):
    session.expire_all()
    return session.scalar(select(func.count(column)))


def customer(n: int, **overrides):
    return event(
        **({"contact": {"email": f"c{n}@example.com"}, "event_id": f"order-{n}"} | overrides)
    )


def test_results_come_back_in_order_and_one_bad_event_spoils_only_itself(api, db_session):
    events = [
        customer(1),
        {"contact": {"email": "c2@example.com"}},  # no stage or touchpoint
        customer(3, stage="nope"),
        customer(4, touchpoint="nope"),
        customer(5, contact={"email": "not an email"}),
        "not even an object",
        customer(7, send=False),
    ]
    response = api.post("/api/v1/touchpoints/bulk", json={"events": events})
    assert response.status_code == 200
    results = response.json["results"]
    assert [r["status"] for r in results] == [201, 422, 422, 422, 422, 422, 201]
    assert sorted(results[1]["error"]["fields"]) == ["stage", "touchpoint"]
    assert list(results[2]["error"]["fields"]) == ["stage"]
    assert list(results[3]["error"]["fields"]) == ["touchpoint"]
    assert list(results[4]["error"]["fields"]) == ["contact.email"]
    assert results[0]["invitation"]["url"] and results[0]["invitation"]["status"] == "queued"
    assert count(db_session, Invitation.id) == 2
    assert count(db_session, OutboxMessage.id) == 1  # event 7 asked not to send


def test_a_repeated_batch_creates_and_sends_nothing_twice(api, db_session):
    events = [customer(n) for n in range(50)]
    first = api.post("/api/v1/touchpoints/bulk", json={"events": events}).json["results"]
    again = api.post("/api/v1/touchpoints/bulk", json={"events": events}).json["results"]
    assert {r["status"] for r in first} == {201}
    assert {r["status"] for r in again} == {200}
    assert [r["invitation"]["id"] for r in again] == [r["invitation"]["id"] for r in first]
    assert count(db_session, Invitation.id) == 50
    assert count(db_session, OutboxMessage.id) == 50


def test_one_event_id_twice_in_a_batch_is_one_invitation(api, db_session):
    results = api.post(
        "/api/v1/touchpoints/bulk", json={"events": [customer(1), customer(1)]}
    ).json["results"]
    assert [r["status"] for r in results] == [201, 200]
    assert results[0]["invitation"]["id"] == results[1]["invitation"]["id"]
    assert count(db_session, OutboxMessage.id) == 1


def test_throttling_applies_between_events_of_one_batch(api, db_session):
    same_customer = {"email": "ann@example.com"}
    events = [
        customer(1, contact=same_customer),
        customer(2, contact=same_customer),
        customer(3, contact=same_customer, stage="retention", touchpoint="support-ticket-solved"),
    ]
    results = api.post("/api/v1/touchpoints/bulk", json={"events": events}).json["results"]
    assert [r["invitation"]["status"] for r in results] == ["queued", "throttled", "throttled"]
    assert count(db_session, OutboxMessage.id) == 1


def test_a_thousand_events_are_accepted_and_a_thousand_and_one_answer_413(api, db_session):
    events = [customer(n) for n in range(1001)]
    assert_error(api.post("/api/v1/touchpoints/bulk", json={"events": events}), 413)
    assert count(db_session, Invitation.id) == 0
    response = api.post("/api/v1/touchpoints/bulk", json={"events": events[:1000]})
    assert response.status_code == 200
    assert len(response.json["results"]) == 1000
    assert count(db_session, Invitation.id) == 1000
    assert count(db_session, OutboxMessage.id) == 1000


def test_a_body_without_a_list_of_events_answers_422(api):
    for body in ({}, {"events": "x"}, {"events": {"a": 1}}, [customer(1)]):
        assert_error(api.post("/api/v1/touchpoints/bulk", json=body), 422, "events")


def test_an_empty_batch_is_an_empty_answer(api):
    response = api.post("/api/v1/touchpoints/bulk", json={"events": []})
    assert response.status_code == 200 and response.json == {"results": []}


def test_an_event_id_reused_within_a_batch_for_someone_else_is_a_409_item(api, db_session):
    events = [customer(1), customer(1, contact={"email": "someone-else@example.com"})]
    results = api.post("/api/v1/touchpoints/bulk", json={"events": events}).json["results"]
    assert [r["status"] for r in results] == [201, 409]
    assert list(results[1]["error"]["fields"]) == ["event_id"]
    assert count(db_session, Invitation.id) == 1
