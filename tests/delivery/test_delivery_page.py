"""/settings/delivery: what gave up shows, with why, and can be retried."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from feedback.delivery import services
from feedback.delivery.mailer import SmtpMailer
from feedback.delivery.models import OutboxMessage
from feedback.delivery.worker import DeliverySettings, deliver_due
from tests.factories import NOW, PASSWORD, make_owner, make_workspace
from tests.pages import csrf_token_from
from tests.support.servers import free_port


def fail_for_good(session, workspace_id, to):
    """An email sent to an SMTP server that is not there until it gives up."""
    services.enqueue_email(
        session,
        workspace_id,
        to=to,
        subject=f"<b>Survey</b> for {to}",
        text="text",
        links=False,  # no link in it: kept when it gives up, so it can be retried as it was
        now=NOW,
    )
    session.commit()
    settings = DeliverySettings(mail_from="shop@example.com", retry_base_seconds=1, max_attempts=2)
    mailer = SmtpMailer("127.0.0.1", free_port(), timeout=2)
    for step in range(3):
        deliver_due(session, mailer, settings, lambda step=step: NOW + dt.timedelta(hours=step))


def test_failed_emails_show_with_their_error_and_can_be_retried(client, db_session, auth):
    user, workspace = make_owner(db_session)
    fail_for_good(db_session, workspace.id, "ann@example.com")
    auth.login(user.email, PASSWORD)
    page = client.get("/settings/delivery")
    assert page.status_code == 200
    assert "ann@example.com" in page.text and "SMTP server unreachable" in page.text
    assert "&lt;b&gt;Survey&lt;/b&gt;" in page.text and "<b>Survey" not in page.text
    [message] = db_session.scalars(select(OutboxMessage)).all()
    assert message.status == "failed"
    retried = client.post(
        f"/settings/delivery/{message.id}/retry", data={"csrf_token": csrf_token_from(page)}
    )
    assert retried.status_code == 302
    db_session.expire_all()
    assert (message.status, message.attempts) == ("pending", 0)
    assert "Nothing has failed." in client.get("/settings/delivery").text


def test_another_workspaces_failures_are_neither_shown_nor_retryable(client, db_session, auth):
    user, _ = make_owner(db_session)
    other = make_workspace(db_session)
    fail_for_good(db_session, other.id, "zed@example.com")
    [theirs] = db_session.scalars(select(OutboxMessage)).all()
    auth.login(user.email, PASSWORD)
    page = client.get("/settings/delivery")
    assert "zed@example.com" not in page.text
    token = csrf_token_from(page)
    retry = f"/settings/delivery/{theirs.id}/retry"
    assert client.post(retry, data={"csrf_token": token}).status_code == 404
    assert client.post(retry).status_code == 400
    db_session.expire_all()
    assert theirs.status == "failed"


def test_the_delivery_page_needs_a_login(client):
    assert client.get("/settings/delivery").status_code == 302
