"""GET /api/v1/stages, /responses and /testimonials: the workspace's data, a page at a time."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.factories import NOW, make_response, make_workspace
from tests.support.api import api_client_for, assert_error

RESPONSE_KEYS = {
    "id",
    "stage",
    "touchpoint",
    "rating",
    "comment",
    "sentiment",
    "testimonial_opt_in",
    "submitted_at",
}


def at(minutes: int) -> dt.datetime:
    return NOW + dt.timedelta(minutes=minutes)


def test_stages_come_in_journey_order_with_their_touchpoints(api):
    response = api.get("/api/v1/stages")
    assert response.status_code == 200
    stages = response.json["data"]
    assert [s["key"] for s in stages] == [
        "awareness",
        "consideration",
        "purchase",
        "retention",
        "advocacy",
    ]
    purchase = stages[2]
    assert "checkout" in [t["key"] for t in purchase["touchpoints"]]
    assert (purchase["scale_min"], purchase["scale_max"]) == (1, 5)
    assert (stages[4]["scale"], stages[4]["scale_min"], stages[4]["scale_max"]) == ("nps", 0, 10)


def test_responses_come_newest_first_in_the_documented_shape(api, db_session):
    quiet = make_response(db_session, api.workspace, comment=None, rating=4, now=at(1))
    loud = make_response(
        db_session, api.workspace, comment="Awful, broken pot.", rating=1, opt_in=True, now=at(2)
    )
    data = api.get("/api/v1/responses").json["data"]
    assert [item["id"] for item in data] == [loud.id, quiet.id]
    assert all(set(item) == RESPONSE_KEYS for item in data)
    assert data[0]["stage"] == "purchase" and data[0]["touchpoint"] == "checkout"
    assert data[0]["sentiment"]["label"] == "negative"
    assert data[0]["sentiment"]["compound"] < 0
    assert data[0]["testimonial_opt_in"] is True
    assert data[1]["sentiment"] is None and data[1]["comment"] is None
    assert dt.datetime.fromisoformat(data[0]["submitted_at"]) == at(2)


def test_the_cursor_walks_every_response_once(api, db_session):
    made = [make_response(db_session, api.workspace, now=at(n % 3)).id for n in range(7)]
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        body = api.get("/api/v1/responses", query_string=query).json
        seen += [item["id"] for item in body["data"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen))


def test_responses_filter_by_stage_touchpoint_label_and_time(api, db_session):
    happy = make_response(db_session, api.workspace, comment="Wonderful, thank you!", now=at(1))
    sad = make_response(
        db_session,
        api.workspace,
        stage="retention",
        touchpoint="support-ticket-solved",
        comment="Terrible support, nobody answered.",
        rating=1,
        now=at(10),
    )

    def ids(**query):
        response = api.get("/api/v1/responses", query_string=query)
        assert response.status_code == 200, response.json
        return [item["id"] for item in response.json["data"]]

    assert ids(stage="retention") == [sad.id]
    assert ids(touchpoint="checkout") == [happy.id]
    assert ids(label="positive") == [happy.id]
    assert ids(label="negative") == [sad.id]
    assert ids(since=at(5).isoformat()) == [sad.id]
    assert ids(until=at(5).isoformat()) == [happy.id]
    assert ids(stage="no-such-stage") == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": 501}, "limit"),
        ({"limit": 0}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"label": "angry"}, "label"),
        ({"since": "yesterday"}, "since"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "W10"}, "cursor"),  # valid base64 of "[]"
    ],
)
def test_bad_query_parameters_answer_422_naming_the_parameter(api, query, field):
    assert_error(api.get("/api/v1/responses", query_string=query), 422, field)


def test_another_workspaces_responses_never_show(api, client, db_session):
    other = api_client_for(client, db_session, make_workspace(db_session))
    theirs = make_response(db_session, other.workspace, opt_in=True, display_name="Zed")
    mine = make_response(db_session, api.workspace)
    assert [i["id"] for i in api.get("/api/v1/responses").json["data"]] == [mine.id]
    assert [i["id"] for i in other.get("/api/v1/responses").json["data"]] == [theirs.id]
    assert api.get("/api/v1/testimonials").json["data"] == []


def test_testimonials_list_consents_with_the_name_to_show(api, db_session):
    named = make_response(
        db_session,
        api.workspace,
        comment="<b>Best</b> shop in town",
        opt_in=True,
        display_name="Ann <script>",
        now=at(1),
    )
    anonymous = make_response(db_session, api.workspace, opt_in=True, now=at(2))
    make_response(db_session, api.workspace, opt_in=False, now=at(3))
    response = api.get("/api/v1/testimonials")
    assert response.mimetype == "application/json"
    data = response.json["data"]
    assert [t["response_id"] for t in data] == [anonymous.id, named.id]
    assert data[0]["display_name"] == "A verified customer"
    # JSON carries the text as the customer typed it; escaping is the displayer's job.
    assert data[1]["display_name"] == "Ann <script>"
    assert data[1]["quote"] == "<b>Best</b> shop in town"
    assert {t["status"] for t in data} == {"pending"}
    assert api.get("/api/v1/testimonials", query_string={"status": "approved"}).json["data"] == []
    assert_error(api.get("/api/v1/testimonials", query_string={"status": "nope"}), 422, "status")


def test_stage_figures_are_the_dashboards_numbers_for_the_period(api, db_session):
    from feedback.db import utcnow
    from feedback.insights.services import journey_summary, local_day

    now = utcnow()
    make_response(db_session, api.workspace, rating=1, comment="Awful, broken pot.", now=now)
    make_response(db_session, api.workspace, rating=5, comment="Lovely!", now=now)
    make_response(
        db_session, api.workspace, stage="advocacy", touchpoint="renewal", rating=10, now=now
    )
    make_response(db_session, api.workspace, rating=4, now=now - dt.timedelta(days=60))
    today = local_day(now, api.workspace.timezone)
    body = api.get("/api/v1/stages").json
    assert body["until"] == today.isoformat()
    assert body["since"] == (today - dt.timedelta(days=29)).isoformat()
    expected = journey_summary(db_session, api.workspace.id, today - dt.timedelta(days=29), today)
    for item, summary in zip(body["data"], expected, strict=True):
        assert item["key"] == summary.stage.key
        for name in ("responses", "invitations_sent", "average_rating", "nps", "mean_sentiment"):
            assert item[name] == summary.__getattribute__(name), name
        assert item["response_rate"] == summary.response_rate
    purchase = body["data"][2]
    assert (purchase["responses"], purchase["positive"], purchase["negative"]) == (2, 1, 1)
    assert purchase["open_follow_ups"] == 1 and purchase["overdue_follow_ups"] == 0
    assert purchase["nps"] is None and body["data"][4]["nps"] == 100.0
    older = api.get(
        "/api/v1/stages",
        query_string={"since": (today - dt.timedelta(days=90)).isoformat()},
    ).json["data"][2]
    assert older["responses"] == 3


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": "2026-05-10", "until": "2026-05-01"}, "body"),
        ({"since": "yesterday"}, "since"),
        ({"since": "0.0"}, "since"),
        ({"until": "0001-01-01"}, "until"),
        ({"since": "9999-12-31"}, "since"),
        ({"since": "2020-01-01", "until": "2026-01-01"}, "since"),
        ({"from": "2026-01-01"}, "from"),
    ],
)
def test_bad_stage_periods_answer_422(api, query, field):
    error = assert_error(api.get("/api/v1/stages", query_string=query), 422, field)
    assert error["message"]


@pytest.mark.parametrize("query", ["limit=1&&", "&limit=1", "limit=1&=x", "=1"])
def test_a_query_parameter_without_a_name_answers_422(api, query):
    assert_error(api.get(f"/api/v1/responses?{query}"), 422, "query")


def test_a_trailing_ampersand_is_harmless(api):
    assert api.get("/api/v1/responses?limit=1&").status_code == 200
