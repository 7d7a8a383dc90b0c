"""feedback.inputs: the bounds every request meets before a view or query sees it."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from feedback.accounts.models import ApiKey
from feedback.inputs import (
    DB_INT_MAX,
    JSON_MAX_DEPTH,
    JSONTooDeep,
    MomentOutOfRange,
    db_int,
    json_too_deep,
    moment_in_range,
)
from tests.factories import PASSWORD, make_owner, make_response
from tests.pages import csrf_token_from


@pytest.fixture
def owner(db_session, auth):
    user, workspace = make_owner(db_session)
    auth.login(user.email, PASSWORD)
    return workspace


@pytest.mark.parametrize(
    "path",
    [
        "/responses/2147483648",
        "/responses/9223372036854775808",
        "/responses/99999999999999999999",
        "/follow-ups/99999999999999999999",
        "/settings/journey/2147483648",
        "/testimonials/99999999999999999999/card.svg",
    ],
)
def test_an_id_no_column_can_hold_is_a_404(client, owner, path):
    assert client.get(path).status_code == 404


def test_the_largest_id_a_column_holds_still_reaches_the_view(client, db_session, owner):
    response = make_response(db_session, owner)
    assert client.get(f"/responses/{response.id}").status_code == 200
    assert client.get(f"/responses/{DB_INT_MAX}").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/stages/pur%00chase",
        "/stages/purchase%00",
        "/t/{slug}%00",
        "/t/{slug}%00.json",
        "/f/{slug}/purchase%00",
        "/settings/links/purchase%00/qr.svg",
        "/static/owner.css%00",
    ],
)
def test_a_nul_in_a_path_segment_finds_nothing(client, owner, path):
    # The stage and the workspace exist: the NUL alone makes these 404s.
    assert client.get(path.format(slug=owner.slug).replace("%00", "")).status_code == 200
    assert client.get(path.format(slug=owner.slug)).status_code == 404


@pytest.mark.parametrize("path", ["/s/%00", "/consent/ab%00cd"])
def test_a_nul_in_a_customer_link_gets_its_friendly_404(client, path):
    page = client.get(path)
    assert page.status_code == 404
    assert "could not find" in page.text


@pytest.mark.parametrize("query", ["tag=%00", "q=a%00b", "%00=1", "stage=purchase&stage=%00"])
def test_a_nul_in_the_query_string_is_a_400(client, owner, query):
    assert client.get(f"/testimonials?{query}").status_code == 400


@pytest.mark.parametrize(
    "value, expected",
    [("7", 7), ("-3", -3), (str(DB_INT_MAX), DB_INT_MAX), (str(-DB_INT_MAX), -DB_INT_MAX)],
)
def test_db_int_reads_numbers_a_column_holds(value, expected):
    assert db_int(value) == expected


@pytest.mark.parametrize("value", [str(DB_INT_MAX + 1), "99999999999999999999", "x", ""])
def test_db_int_refuses_anything_else_with_value_error(value):
    with pytest.raises(ValueError):
        db_int(value)


@pytest.mark.parametrize(
    "text, too_deep",
    [
        ("[" * JSON_MAX_DEPTH + "]" * JSON_MAX_DEPTH, False),
        ("[" * (JSON_MAX_DEPTH + 1) + "]" * (JSON_MAX_DEPTH + 1), True),
        ('{"a": ' * 40 + "1" + "}" * 40, True),
        ("[" + "[]," * 1000 + "[]]", False),  # wide, not deep
        (json.dumps(["[[[[" * 100, '\\"[' * 100]), False),  # brackets in strings
        ("[" * 100_000, True),  # malformed, and refused before the parser sees it
    ],
)
def test_json_nesting_is_measured_outside_strings(text, too_deep):
    assert json_too_deep(text) is too_deep
    assert json_too_deep(text.encode()) is too_deep


def test_the_apps_json_refuses_deep_nesting_with_a_value_error(app):
    with pytest.raises(JSONTooDeep):
        app.json.loads("[" * 10_000 + "]" * 10_000)
    assert app.json.loads('{"events": [{"contact": {"email": "a@b.c"}}]}')


@pytest.mark.parametrize(
    "moment",
    [
        dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
        dt.datetime(2100, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
        dt.datetime(2026, 6, 15, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=-14))),
    ],
)
def test_moments_in_the_window_come_back_in_utc(moment):
    assert moment_in_range(moment) == moment
    assert moment_in_range(moment).utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    "moment",
    [
        dt.datetime.fromisoformat("9999-12-31T23:59:59-14:00"),
        dt.datetime.fromisoformat("0001-01-01T00:00:00+14:00"),
        dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
        dt.datetime(2101, 1, 1, tzinfo=dt.UTC),
    ],
)
def test_moments_outside_the_window_are_refused(moment):
    with pytest.raises(MomentOutOfRange):
        moment_in_range(moment)


def test_nul_characters_are_removed_from_submitted_forms(client, db_session, owner):
    page = client.get("/settings/api-keys")
    created = client.post(
        "/settings/api-keys", data={"csrf_token": csrf_token_from(page), "name": "Zap\x00ier"}
    )
    assert created.status_code == 200
    assert db_session.scalars(select(ApiKey.name)).all() == ["Zapier"]


def test_a_nul_in_an_email_field_gets_the_usual_answer(client):
    def forgot(email: str) -> int:
        page = client.get("/password/forgot")
        data = {"csrf_token": csrf_token_from(page), "email": email}
        return client.post("/password/forgot", data=data).status_code

    assert forgot("ann\x00@example.com") == forgot("ann@example.com") < 500
