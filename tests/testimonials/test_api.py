"""The moderation API: GET /api/v1/testimonials with excerpts and sentiment, PATCH one."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from feedback.testimonials import services
from feedback.testimonials.models import Testimonial
from feedback.testimonials.usage import record_uses
from tests.factories import NOW, approved, make_workspace, opted_in
from tests.support.api import ApiClient, api_client_for, assert_error


@pytest.fixture
def api(client: FlaskClient, db_session: Session) -> ApiClient:
    """The test client with a fresh workspace's API key."""
    return api_client_for(client, db_session, make_workspace(db_session))


ORIGINAL = "The plants arrived quickly and were healthy, but the box was damaged."


def patch(api: ApiClient, testimonial_id: int, body: Any):
    return api.client.patch(
        f"/api/v1/testimonials/{testimonial_id}", json=body, headers=api.headers()
    )


def test_listed_testimonials_carry_excerpt_quote_comment_and_sentiment(api, db_session):
    t = opted_in(db_session, api.workspace, ORIGINAL)
    services.set_excerpt(db_session, api.workspace.id, t.id, "The plants arrived quickly…")
    db_session.commit()
    (item,) = api.get("/api/v1/testimonials").json["data"]
    assert item["excerpt"] == "The plants arrived quickly…"
    assert item["quote"] == "The plants arrived quickly…"
    assert item["comment"] == ORIGINAL
    assert item["sentiment"]["label"] in {"positive", "neutral", "negative"}
    assert -1 <= item["sentiment"]["compound"] <= 1
    assert {"id", "response_id", "stage", "touchpoint", "rating", "display_name"} <= set(item)


def test_without_an_excerpt_the_quote_is_the_comment_and_no_comment_has_no_sentiment(
    api, db_session
):
    opted_in(db_session, api.workspace, "Lovely ferns")
    opted_in(db_session, api.workspace, None)
    items = api.get("/api/v1/testimonials").json["data"]
    by_comment = {i["comment"]: i for i in items}
    assert by_comment["Lovely ferns"]["quote"] == "Lovely ferns"
    assert by_comment["Lovely ferns"]["excerpt"] is None
    assert by_comment[None]["sentiment"] is None and by_comment[None]["quote"] is None


def test_patch_approves_and_sets_an_excerpt_in_one_call(api, db_session):
    t = opted_in(db_session, api.workspace, ORIGINAL)
    response = patch(api, t.id, {"status": "approved", "excerpt": "The plants arrived ... healthy"})
    assert response.status_code == 200, response.text
    assert response.json["status"] == "approved"
    assert response.json["excerpt"] == "The plants arrived … healthy"
    assert response.json["quote"] == "The plants arrived … healthy"
    db_session.expire_all()
    stored = db_session.get(Testimonial, t.id)
    assert stored.status == "approved" and stored.approved_at is not None
    assert stored.response.comment == ORIGINAL


def test_patch_features_rejects_and_clears_the_excerpt(api, db_session):
    t = opted_in(db_session, api.workspace, ORIGINAL)
    assert patch(api, t.id, {"status": "featured"}).json["status"] == "featured"
    assert patch(api, t.id, {"excerpt": "were healthy…"}).json["excerpt"] == "were healthy…"
    cleared = patch(api, t.id, {"excerpt": ""}).json
    assert cleared["excerpt"] is None and cleared["quote"] == ORIGINAL
    assert patch(api, t.id, {"status": "rejected"}).json["status"] == "rejected"


def test_patch_refuses_a_changed_excerpt_with_the_field_and_changes_nothing(api, db_session):
    t = opted_in(db_session, api.workspace, ORIGINAL)
    error = assert_error(
        patch(api, t.id, {"status": "approved", "excerpt": "The plants arrived perfectly"}),
        422,
        "excerpt",
    )
    assert "not change them" in error["fields"]["excerpt"]
    db_session.expire_all()
    stored = db_session.get(Testimonial, t.id)
    assert (stored.status, stored.excerpt) == ("pending", None)


def test_patch_refuses_an_unknown_status_an_empty_body_and_unknown_fields(api, db_session):
    t = opted_in(db_session, api.workspace, ORIGINAL)
    assert_error(patch(api, t.id, {"status": "pending"}), 422, "status")
    assert_error(patch(api, t.id, {"status": "published"}), 422, "status")
    assert patch(api, t.id, {}).status_code == 422
    assert patch(api, t.id, {"display_name": "Someone else"}).status_code == 422
    assert patch(api, t.id, {"consent_text": "anything"}).status_code == 422


def test_patch_of_a_withdrawn_testimonial_to_approved_is_a_conflict(api, db_session):
    t = opted_in(db_session, api.workspace, ORIGINAL)
    services.withdraw_on_request(db_session, api.workspace.id, t.id, NOW)
    db_session.commit()
    for status in ("approved", "featured"):
        error = assert_error(patch(api, t.id, {"status": status}), 409)
        assert "withdrew" in error["message"]
    db_session.expire_all()
    assert db_session.get(Testimonial, t.id).status == "pending"


def test_patch_of_another_workspaces_or_an_unknown_id_is_not_found(api, client, db_session):
    their_workspace = make_workspace(db_session)
    theirs = opted_in(db_session, their_workspace, ORIGINAL)
    assert_error(patch(api, theirs.id, {"status": "approved"}), 404)
    assert_error(patch(api, 999999, {"status": "approved"}), 404)
    db_session.expire_all()
    assert db_session.get(Testimonial, theirs.id).status == "pending"
    # And the owner of it can.
    other = api_client_for(client, db_session, their_workspace)
    assert patch(other, theirs.id, {"status": "approved"}).status_code == 200


def test_patch_needs_a_key_and_a_json_body(api, client, db_session):
    t = opted_in(db_session, api.workspace, ORIGINAL)
    assert (
        client.patch(f"/api/v1/testimonials/{t.id}", json={"status": "approved"}).status_code == 401
    )
    response = client.patch(
        f"/api/v1/testimonials/{t.id}", data="status=approved", headers=api.headers()
    )
    assert_error(response, 400)


def test_the_patch_route_is_in_the_openapi_document(client):
    document = client.get("/api/v1/openapi.json").json
    operation = document["paths"]["/api/v1/testimonials/{testimonial_id}"]["patch"]
    assert {"200", "404", "409", "422"} <= set(operation["responses"])
    assert document["components"]["schemas"]["TestimonialOut"]["properties"].keys() >= {
        "excerpt",
        "quote",
        "sentiment",
    }


def test_status_filter_lists_only_that_status(api, db_session):
    a = opted_in(db_session, api.workspace, "First")
    opted_in(db_session, api.workspace, "Second")
    patch(api, a.id, {"status": "featured"})
    data = api.get("/api/v1/testimonials", query_string={"status": "featured"}).json["data"]
    assert [i["id"] for i in data] == [a.id]


# --- Tags, disclosures, age, uses -----------------------------------------------------------


def test_listed_testimonials_carry_tags_role_channels_disclosure_age_and_uses(api, db_session):
    ws = api.workspace
    old = approved(db_session, ws, "Old words", role="Owner", channels="website social", now=NOW)
    services.set_tags(db_session, ws.id, old.id, ["plants", "delivery"])
    services.set_material_connection(db_session, ws.id, old.id, "employee")
    record_uses(db_session, ws.id, [old.id], "embed", NOW)
    record_uses(db_session, ws.id, [old.id], "wall", NOW)
    ws.testimonial_max_age_days = 1
    fresh_one = opted_in(db_session, ws, "New words", now=dt.datetime.now(dt.UTC))
    db_session.commit()
    items = {i["id"]: i for i in api.get("/api/v1/testimonials").json["data"]}
    item = items[old.id]
    assert item["tags"] == ["delivery", "plants"]
    assert item["display_role"] == "Owner"
    assert item["channels"] == ["website", "social"]
    assert item["material_connection"] == "employee"
    assert item["disclosure"] == "Works for us"
    assert item["stale"] is True and item["withdrawn_at"] is None
    assert item["used_on"] == ["wall", "embed"]
    new = items[fresh_one.id]
    assert (new["tags"], new["used_on"], new["stale"], new["disclosure"]) == ([], [], False, None)


def test_a_rejected_old_testimonial_is_not_flagged_stale_as_in_the_inbox(api, db_session):
    ws = api.workspace
    kept = approved(db_session, ws, "Still shown", now=NOW)
    dropped = opted_in(db_session, ws, "Not shown", now=NOW)
    services.reject(db_session, ws.id, dropped.id)
    ws.testimonial_max_age_days = 1
    db_session.commit()
    items = {i["id"]: i for i in api.get("/api/v1/testimonials").json["data"]}
    assert (items[kept.id]["stale"], items[dropped.id]["stale"]) == (True, False)
    inbox = services.page_details(db_session, ws, [kept, dropped], dt.datetime.now(dt.UTC))
    assert inbox.stale == {kept.id}


def test_patch_sets_tags_normalised_and_a_material_connection(api, db_session):
    t = opted_in(db_session, api.workspace, ORIGINAL)
    response = patch(
        api, t.id, {"tags": [" Fast Delivery", "plants", "PLANTS"], "material_connection": "gifted"}
    )
    assert response.status_code == 200, response.text
    assert response.json["tags"] == ["fast-delivery", "plants"]
    assert response.json["disclosure"] == "Received a free product or service"
    # Sending only the connection as null clears it and leaves the tags.
    cleared = patch(api, t.id, {"material_connection": None}).json
    assert cleared["material_connection"] is None and cleared["tags"] == ["fast-delivery", "plants"]
    assert patch(api, t.id, {"tags": []}).json["tags"] == []


def test_patch_refuses_bad_tags_and_unknown_connections_and_changes_nothing(api, db_session):
    t = opted_in(db_session, api.workspace, ORIGINAL)
    error = assert_error(
        patch(api, t.id, {"tags": ["ok", "<b>"], "status": "approved"}), 422, "tags"
    )
    assert "letters, digits and '-'" in error["fields"]["tags"]
    error = assert_error(patch(api, t.id, {"tags": [f"t{i}" for i in range(11)]}), 422, "tags")
    assert "At most 10 tags" in error["fields"]["tags"]
    assert_error(patch(api, t.id, {"material_connection": "aunt"}), 422, "material_connection")
    assert patch(api, t.id, {"tags": "plants"}).status_code == 422
    db_session.expire_all()
    stored = db_session.get(Testimonial, t.id)
    assert (stored.status, stored.tags, stored.material_connection) == ("pending", [], None)


def test_patch_tags_of_another_workspaces_testimonial_is_not_found(api, db_session):
    theirs = opted_in(db_session, make_workspace(db_session), ORIGINAL)
    assert_error(patch(api, theirs.id, {"tags": ["x"]}), 404)
    assert_error(patch(api, theirs.id, {"material_connection": "gifted"}), 404)
    db_session.expire_all()
    stored = db_session.get(Testimonial, theirs.id)
    assert (stored.tags, stored.material_connection) == ([], None)


def test_the_new_fields_are_in_the_openapi_document(client):
    schemas = client.get("/api/v1/openapi.json").json["components"]["schemas"]
    assert schemas["TestimonialOut"]["properties"].keys() >= {
        "tags",
        "display_role",
        "channels",
        "material_connection",
        "disclosure",
        "stale",
        "withdrawn_at",
        "used_on",
    }
    assert schemas["TestimonialPatch"]["properties"].keys() >= {"tags", "material_connection"}
