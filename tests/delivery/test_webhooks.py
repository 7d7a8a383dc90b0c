"""Webhooks: events go out through the outbox, signed, retried, to a real local HTTP server."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from sqlalchemy import func, select

from feedback.db import utcnow
from feedback.delivery import webhooks
from feedback.delivery.mailer import SmtpMailer
from feedback.delivery.models import OutboxMessage, WebhookEndpoint
from feedback.delivery.worker import DeliverySettings, deliver_due
from tests.factories import NOW, PASSWORD, make_owner, make_response, make_workspace
from tests.pages import csrf_token_from
from tests.support.delivery import Clock
from tests.support.servers import Receiver

# The receivers here listen on 127.0.0.1: the LAN opt-in is on for them.
SETTINGS = DeliverySettings(
    mail_from="x@example.com",
    retry_base_seconds=60,
    max_attempts=3,
    webhook_allow_private=True,
)


def register(db_session, workspace_id, url, events, now=NOW):
    return webhooks.register_webhook(db_session, workspace_id, url, events, now, allow_private=True)


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


def deliver(db_session, clock=None):
    return deliver_due(db_session, SmtpMailer("127.0.0.1", 9), SETTINGS, clock or Clock(NOW))


def test_a_negative_opted_in_response_is_signed_and_delivered_per_event(db_session, receiver):
    workspace = make_workspace(db_session)
    endpoint = register(db_session, workspace.id, receiver.url, list(webhooks.EVENTS))
    db_session.commit()
    make_response(db_session, workspace, rating=1, comment="Awful, broken pot.", opt_in=True)
    assert deliver(db_session).sent == 3
    events = sorted(json.loads(body)["event"] for _h, body in receiver.requests)
    assert events == ["response.created", "response.negative", "testimonial.opted_in"]
    headers, body = receiver.requests[0]
    timestamp, mac = headers[webhooks.SIGNATURE_HEADER].removeprefix("t=").split(",v1=")
    expected = hmac.new(endpoint.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    assert hmac.compare_digest(mac, expected.hexdigest())
    data = json.loads(body)["data"]
    assert (data["stage"], data["touchpoint"], data["rating"]) == ("purchase", "checkout", 1)
    assert data["sentiment"]["label"] == "negative"


def test_only_chosen_events_are_sent_and_other_workspaces_hear_nothing(db_session, receiver):
    mine, theirs = make_workspace(db_session), make_workspace(db_session)
    register(db_session, mine.id, receiver.url, ["response.negative"])
    db_session.commit()
    make_response(db_session, mine, rating=5, comment="Lovely")
    make_response(db_session, theirs, rating=1, comment="Awful")
    assert deliver(db_session).sent == 0
    make_response(db_session, mine, rating=1, comment="Awful")
    assert deliver(db_session).sent == 1
    assert [json.loads(b)["event"] for _h, b in receiver.requests] == ["response.negative"]


def test_a_failing_endpoint_is_retried_with_backoff(db_session, receiver):
    workspace = make_workspace(db_session)
    register(db_session, workspace.id, receiver.url, ["response.created"])
    db_session.commit()
    make_response(db_session, workspace)
    receiver.status = 500
    clock = Clock(NOW)
    assert deliver(db_session, clock).retrying == 1
    message = db_session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "webhook"))
    assert message.last_error == "failed (HTTP 500)" and message.status == "pending"
    receiver.status = 204
    clock.advance(seconds=61)
    assert deliver(db_session, clock).sent == 1
    assert len(receiver.requests) == 2


@pytest.mark.parametrize(
    ("url", "events"),
    [
        ("ftp://x", ["response.created"]),
        ("https://x.example/h", []),
        ("https://x.example/h", ["response.deleted"]),
        ("https://" + "x" * 600, ["response.created"]),
    ],
)
def test_bad_webhooks_are_refused(db_session, url, events):
    workspace = make_workspace(db_session)
    with pytest.raises(webhooks.WebhookError):
        webhooks.register_webhook(db_session, workspace.id, url, events, NOW)


def test_owners_add_and_remove_webhooks_in_settings(client, db_session, auth):
    user, workspace = make_owner(db_session)
    other = make_workspace(db_session)
    theirs = webhooks.register_webhook(
        db_session, other.id, "https://their.example/h", ["response.created"], utcnow()
    )
    db_session.commit()
    auth.login(user.email, PASSWORD)
    page = client.get("/settings/webhooks")
    token = csrf_token_from(page)
    added = client.post(
        "/settings/webhooks",
        data={
            "csrf_token": token,
            "url": "https://hooks.example/fb",
            "events": ["response.negative"],
        },
    )
    assert added.status_code == 302
    listing = client.get("/settings/webhooks")
    assert "https://hooks.example/fb" in listing.text and "their.example" not in listing.text
    bad = client.post(
        "/settings/webhooks",
        data={"csrf_token": token, "url": "javascript:x", "events": ["response.created"]},
    )
    assert bad.status_code == 422
    assert (
        client.post(
            f"/settings/webhooks/{theirs.id}/remove", data={"csrf_token": token}
        ).status_code
        == 404
    )
    mine = db_session.scalar(
        select(WebhookEndpoint.id).where(WebhookEndpoint.workspace_id == workspace.id)
    )
    assert (
        client.post(f"/settings/webhooks/{mine}/remove", data={"csrf_token": token}).status_code
        == 302
    )
    assert db_session.scalar(select(func.count(WebhookEndpoint.id))) == 1


def test_a_workspace_without_webhooks_skips_the_lookup_and_the_flag_follows_endpoints(db_session):
    workspace = make_workspace(db_session)
    assert workspace.has_webhooks is False
    endpoint = webhooks.register_webhook(
        db_session, workspace.id, "https://h.example/x", ["response.created"], NOW
    )
    db_session.refresh(workspace)
    assert workspace.has_webhooks is True
    webhooks.remove_webhook(db_session, workspace.id, endpoint.id)
    db_session.refresh(workspace)
    assert workspace.has_webhooks is False
    make_response(db_session, workspace)
    assert db_session.scalar(select(func.count(OutboxMessage.id))) == 0
