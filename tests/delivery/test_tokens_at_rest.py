"""Raw tokens don't stay at rest: once an email is sent or has given up, no outbox row
holds its survey, consent or password link in clear; the reminder and an owner's Retry
still work, from the sealed copy."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import Text, cast, select

from feedback.accounts import services as accounts
from feedback.db import utcnow
from feedback.delivery import services, webhooks
from feedback.delivery.mailer import SmtpMailer
from feedback.delivery.models import OutboxMessage
from feedback.delivery.worker import DeliverySettings, deliver_due
from feedback.surveys import emails
from feedback.surveys import services as surveys
from tests.conftest import free_port
from tests.delivery.test_webhooks import Receiver
from tests.delivery.test_worker import Clock
from tests.factories import NOW, PASSWORD, make_invitation, make_owner, make_response
from tests.pages import csrf_token_from

SETTINGS = DeliverySettings(
    mail_from="feedback@example.com",
    retry_base_seconds=60,
    max_attempts=3,
    on_sent=surveys.record_emails_sent,
)
BASE = "https://fb.example"


def outbox_text(session) -> str:
    """Every column of every outbox row, as the database stores it (JSON cast to text)."""
    table = OutboxMessage.__table__
    rows = session.execute(select(*(cast(column, Text) for column in table.columns))).all()
    return "\n".join(str(value) for row in rows for value in row)


def body_of(message) -> str:
    return "\n".join(
        part.get_payload(decode=True).decode() for part in message.walk() if not part.is_multipart()
    )


def test_sent_emails_keep_no_raw_link_and_the_reminder_still_carries_it(
    app, db_session, smtp_server
):
    user, workspace = make_owner(db_session)
    issued = make_invitation(db_session, workspace, sent=False)
    emails.queue_invitation_email(
        db_session, workspace, issued, base_url=BASE, secret_key="test-secret-key", now=NOW
    )
    accounts.request_password_reset(
        db_session, user.email, secret_key="test-secret-key", base_url=BASE, now=NOW
    )
    db_session.commit()
    before = outbox_text(db_session)
    password_token = re.search(r"/password/set/([^\s\"<]+)", before).group(1)
    assert issued.token in before  # waiting to go out: the link has to be somewhere
    smtp_server.start()
    mailer = SmtpMailer.from_url(smtp_server.url)
    assert deliver_due(db_session, mailer, SETTINGS, Clock(NOW)).sent == 2
    assert any(issued.token in body_of(m) for m in smtp_server.inbox.messages)

    after = outbox_text(db_session)
    assert issued.token not in after and password_token not in after
    # What the delivery page shows stays readable.
    db_session.expire_all()
    for message in db_session.scalars(select(OutboxMessage)):
        assert {"to", "subject", "message_id", "meta"} <= set(message.payload)
        assert "text" not in message.payload and "html" not in message.payload

    # Three days on, the reminder repeats the link, opened from the sealed copy.
    later = NOW + dt.timedelta(days=3)
    assert emails.queue_due_reminders(db_session, later) == 1
    db_session.commit()
    assert deliver_due(db_session, mailer, SETTINGS, Clock(later)).sent == 1
    reminder = smtp_server.inbox.messages[-1]
    assert reminder["Subject"].startswith("Reminder: ")
    assert f"{BASE}/s/{issued.token}" in body_of(reminder)
    assert issued.token not in outbox_text(db_session)


def test_a_failed_email_keeps_no_raw_link_and_retry_still_sends_it(
    app, client, db_session, auth, smtp_server
):
    user, workspace = make_owner(db_session)
    issued = make_invitation(db_session, workspace, sent=False)
    emails.queue_invitation_email(
        db_session, workspace, issued, base_url=BASE, secret_key="test-secret-key", now=NOW
    )
    db_session.commit()
    down = SmtpMailer("127.0.0.1", free_port(), timeout=2)
    once = DeliverySettings(mail_from="feedback@example.com", retry_base_seconds=1, max_attempts=1)
    assert deliver_due(db_session, down, once, Clock(NOW)).failed == 1
    assert issued.token not in outbox_text(db_session)

    auth.login(user.email, PASSWORD)
    page = client.get("/settings/delivery")
    assert page.status_code == 200 and issued.invitation.contact.email in page.text
    message_id = db_session.scalar(select(OutboxMessage.id))
    retried = client.post(
        f"/settings/delivery/{message_id}/retry", data={"csrf_token": csrf_token_from(page)}
    )
    assert retried.status_code == 302
    smtp_server.start()
    mailer = SmtpMailer.from_url(smtp_server.url)
    assert deliver_due(db_session, mailer, SETTINGS, Clock(utcnow())).sent == 1  # retried now
    [received] = smtp_server.inbox.messages
    assert f"{BASE}/s/{issued.token}" in body_of(received)
    assert issued.token not in outbox_text(db_session)


def test_a_message_whose_text_was_dropped_is_not_retried_and_the_owner_is_told(
    client, db_session, auth
):
    user, workspace = make_owner(db_session)
    message = OutboxMessage(
        workspace_id=workspace.id,
        kind="email",
        payload={"to": "ann@example.com", "subject": "Survey", "scrubbed": True},
        status="failed",
        attempts=8,
        next_attempt_at=NOW,
        created_at=NOW,
        last_error="SMTP error",
    )
    db_session.add(message)
    db_session.commit()
    auth.login(user.email, PASSWORD)
    page = client.get("/settings/delivery")
    answer = client.post(
        f"/settings/delivery/{message.id}/retry",
        data={"csrf_token": csrf_token_from(page)},
        follow_redirects=True,
    )
    assert answer.status_code == 200
    assert "Not queued again: Its content was removed" in answer.text
    db_session.expire_all()
    assert db_session.get(OutboxMessage, message.id).status == "failed"


def test_a_delivered_webhook_call_keeps_no_body(db_session):
    receiver = Receiver()
    try:
        _user, workspace = make_owner(db_session)
        webhooks.register_webhook(
            db_session, workspace.id, receiver.url, ["response.created"], NOW, allow_private=True
        )
        db_session.commit()
        make_response(db_session, workspace, comment="A very personal remark")
        settings = DeliverySettings(
            mail_from="x@example.com",
            retry_base_seconds=60,
            max_attempts=3,
            webhook_allow_private=True,
        )
        assert deliver_due(db_session, SmtpMailer("127.0.0.1", 9), settings, Clock(NOW)).sent
        assert "A very personal remark" in receiver.requests[0][1].decode()
        assert "A very personal remark" not in outbox_text(db_session)
    finally:
        receiver.close()


def test_a_seal_from_another_secret_key_is_refused_not_misread():
    sealed = services.Sealer("one key").seal({"text": "t"})
    assert services.Sealer("one key").open(sealed) == {"text": "t"}
    try:
        services.Sealer("another key").open(sealed)
    except services.SealBroken:
        pass
    else:
        raise AssertionError("opened with the wrong key")
