"""Odd and hostile input to the API gets a 4xx in the envelope, never a 500."""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import func, select

from feedback.inputs import JSON_MAX_DEPTH
from feedback.surveys.models import Invitation
from tests.factories import make_response
from tests.support.api import assert_error, event


def forged_cursor(moment: object, item_id: object) -> str:
    raw = json.dumps([moment, item_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize("item_id", [2**31, 2**63, 10**20])
def test_an_id_no_column_can_hold_is_404_in_the_envelope(api, item_id):
    response = api.client.patch(
        f"/api/v1/testimonials/{item_id}", headers=api.headers(), json={"status": "approved"}
    )
    assert_error(response, 404)


@pytest.mark.parametrize(
    "moment, item_id",
    [
        ("2026-06-15T12:00:00+00:00", 10**30),
        ("2026-06-15T12:00:00+00:00", 2**31),
        ("2026-06-15T12:00:00+00:00", 0),
        ("2026-06-15T12:00:00+00:00", True),
        ("9999-12-31T23:59:59-14:00", 1),
        ("0001-01-01T00:00:00+14:00", 1),
        ("9999-12-31T23:59:59+00:00", 1),
        ("1970-01-01T00:00:00+00:00", 1),
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/responses", "/api/v1/testimonials"])
def test_a_forged_cursor_is_refused_with_422(api, db_session, path, moment, item_id):
    make_response(db_session, api.workspace, opt_in=True, display_name="Ann")
    response = api.get(path, query_string={"cursor": forged_cursor(moment, item_id)})
    assert_error(response, 422, "cursor")


def test_a_cursor_the_api_gave_out_still_works(api, db_session):
    for _ in range(3):
        make_response(db_session, api.workspace)
    first = api.get("/api/v1/responses", query_string={"limit": 2})
    rest = api.get("/api/v1/responses", query_string={"cursor": first.json["next_cursor"]})
    assert rest.status_code == 200 and len(rest.json["data"]) == 1


OUT_OF_RANGE = [
    "9999-12-31T23:59:59-14:00",  # overflows on its way to UTC
    "0001-01-01T00:00:00+14:00",  # likewise, the other way
    "1999-12-31T23:59:59Z",
    "2101-01-01T00:00:00Z",
]


@pytest.mark.parametrize("moment", OUT_OF_RANGE)
def test_occurred_at_outside_2000_to_2100_is_422_naming_it(api, moment):
    response = api.post("/api/v1/touchpoints", json=event(occurred_at=moment))
    error = assert_error(response, 422, "occurred_at")
    assert "2000-01-01" in error["fields"]["occurred_at"]


@pytest.mark.parametrize("moment", ["2000-01-01T00:00:00Z", "2100-12-31T23:59:59+00:00"])
def test_occurred_at_at_the_ends_of_the_window_is_recorded(api, moment):
    assert api.post("/api/v1/touchpoints", json=event(occurred_at=moment)).status_code == 201


@pytest.mark.parametrize("parameter", ["since", "until"])
def test_a_response_filter_outside_the_window_is_422(api, parameter):
    response = api.get("/api/v1/responses", query_string={parameter: OUT_OF_RANGE[0]})
    assert_error(response, 422, parameter)


def test_a_nul_in_event_id_is_422_naming_it(api, db_session):
    response = api.post("/api/v1/touchpoints", json=event(event_id="order\x00-1"))
    error = assert_error(response, 422, "event_id")
    assert "control characters" in error["fields"]["event_id"]
    assert db_session.scalar(select(func.count(Invitation.id))) == 0


def test_a_nul_in_external_id_is_422_naming_it(api):
    contact = {"email": "ann@example.com", "external_id": "cust\x00-7"}
    response = api.post("/api/v1/touchpoints", json=event(contact=contact))
    assert_error(response, 422, "contact.external_id")


def test_in_bulk_each_bad_event_spoils_only_itself(api, db_session):
    events = [
        event(event_id="good-1", contact={"email": "a@example.com"}),
        event(event_id="late", occurred_at="9999-12-31T23:59:59-14:00"),
        event(event_id="early", occurred_at="0001-01-01T00:00:00+14:00"),
        event(event_id="nul\x00"),
        event(event_id="ext", contact={"email": "c@example.com", "external_id": "\x00"}),
        event(event_id="good-2", contact={"email": "b@example.com"}),
    ]
    response = api.post("/api/v1/touchpoints/bulk", json={"events": events})
    assert response.status_code == 200
    results = response.json["results"]
    assert [r["status"] for r in results] == [201, 422, 422, 422, 422, 201]
    assert [sorted(r["error"]["fields"]) for r in results[1:5]] == [
        ["occurred_at"],
        ["occurred_at"],
        ["event_id"],
        ["contact.external_id"],
    ]
    stored = db_session.scalars(select(Invitation.event_id).order_by(Invitation.id)).all()
    assert stored == ["good-1", "good-2"]


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("POST", "/api/v1/touchpoints", deep(10_000)),
        ("POST", "/api/v1/touchpoints/bulk", '{"events": ' + deep(10_000) + "}"),
        ("PATCH", "/api/v1/testimonials/1", '{"tags": ' + deep(10_000) + "}"),
        ("POST", "/api/v1/touchpoints", '{"a": ' * 5000 + "1" + "}" * 5000),
    ],
)
def test_a_body_nested_10000_deep_is_400_before_it_is_parsed(api, method, path, body):
    response = api.client.open(
        path, method=method, headers=api.headers(), data=body, content_type="application/json"
    )
    error = assert_error(response, 400)
    assert error["code"] == "too_deep"
    assert str(JSON_MAX_DEPTH) in error["message"]


def test_a_body_at_the_nesting_limit_is_read(api):
    body = {"contact": {"email": "ann@example.com"}, "x": json.loads(deep(JSON_MAX_DEPTH - 1))}
    response = api.post("/api/v1/touchpoints", json={**event(), **body})
    assert response.status_code == 201


def test_brackets_inside_strings_do_not_count_as_nesting(api):
    brackets = '[{"\\"' * 40
    response = api.post("/api/v1/touchpoints", json=event(event_id=brackets))
    assert response.status_code == 201
    assert response.json["invitation"]["status"] == "queued"


def test_a_nul_in_the_query_string_is_422_naming_the_parameter(api):
    response = api.get("/api/v1/responses", query_string={"stage": "pur\x00chase"})
    error = assert_error(response, 422, "stage")
    assert error["fields"]["stage"] == "contains a NUL character"


def test_a_nul_in_the_query_string_without_a_key_is_still_401(client):
    response = client.get("/api/v1/responses", query_string={"stage": "pur\x00chase"})
    assert response.status_code == 401
