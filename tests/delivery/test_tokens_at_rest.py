"""Raw tokens don't stay at rest: once an email is sent or has given up, no outbox row
holds its survey, consent, unsubscribe or password link, in any form. The reminder gets
a link of its own; an owner's Retry makes a link-bearing email again with a fresh link
(or says why it can't), and sends an email without links as it was."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import Text, cast, select

from feedback import answers
from feedback.accounts import services as accounts
from feedback.db import utcnow
from feedback.delivery import services, webhooks
from feedback.delivery.mailer import SmtpMailer
from feedback.delivery.models import OutboxMessage
from feedback.delivery.worker import DeliverySettings, deliver_due
from feedback.followups import services as followups
from feedback.surveys import emails
from feedback.surveys import services as surveys
from feedback.testimonials import consent
from tests.factories import NOW, PASSWORD, make_invitation, make_owner, make_response, opted_in
from tests.pages import csrf_token_from
from tests.support.delivery import Clock
from tests.support.servers import Receiver, free_port

SETTINGS = DeliverySettings(
    mail_from="feedback@example.com",
    retry_base_seconds=60,
    max_attempts=3,
    on_sent=answers.record_emails_sent,
)
# One attempt, then it gives up.
GIVE_UP = DeliverySettings(mail_from="feedback@example.com", retry_base_seconds=1, max_attempts=1)
SECRET = "test-secret-key"  # the test app's SECRET_KEY
BASE = "http://localhost"  # the test app's BASE_URL, which a Retry's links use
SURVEY_LINK = re.compile(r"/s/([A-Za-z0-9_-]{20,})")
CONSENT_LINK = re.compile(r"/consent/([A-Za-z0-9_-]{20,})")
PASSWORD_LINK = re.compile(r"/password/set/([A-Za-z0-9_.-]{20,})")


# All a sent (or failed, link-bearing) email keeps: who, what, which Message-ID, what it
# was for, and what it was made from (ids, never a token).
KEPT = {"to", "subject", "from", "message_id", "meta", "links", "remake"}


def outbox_text(session) -> str:
    """Every column of every outbox row, as the database stores it (JSON cast to text)."""
    table = OutboxMessage.__table__
    rows = session.execute(select(*(cast(column, Text) for column in table.columns))).all()
    return "\n".join(str(value) for row in rows for value in row)


def body_of(message) -> str:
    return "\n".join(
        part.get_payload(decode=True).decode() for part in message.walk() if not part.is_multipart()
    )


def down() -> SmtpMailer:
    """An SMTP server that is not there."""
    return SmtpMailer("127.0.0.1", free_port(), timeout=2)


def every_link_bearing_email(db_session, now: dt.datetime):
    """Queue one of each email that carries a secret link; returns the owner, the
    invitation, and every raw token that went into the outbox (all found there)."""
    user, workspace = make_owner(db_session)
    issued = make_invitation(db_session, workspace, sent=False, now=now)
    emails.queue_invitation_email(
        db_session, workspace, issued, base_url=BASE, secret_key=SECRET, now=now
    )
    accounts.request_password_reset(
        db_session, user.email, secret_key=SECRET, base_url=BASE, now=now
    )
    testimonial = opted_in(db_session, workspace, now=now)
    response = testimonial.response
    consent.after_opt_in(
        db_session,
        response,
        workspace,
        response.stage,
        response.contact.email,
        base_url=BASE,
        now=now,
    )
    consent.request_reconfirmation(db_session, workspace, testimonial.id, now, base_url=BASE)
    db_session.commit()
    before = outbox_text(db_session)
    tokens = {
        "survey": [issued.token],
        "unsubscribe": [emails.unsubscribe_token(SECRET, issued.invitation.contact)],
        "password": PASSWORD_LINK.findall(before),
        "consent": sorted(set(CONSENT_LINK.findall(before))),
    }
    assert len(tokens["password"]) == 1 and len(tokens["consent"]) == 2
    for kind, raw in tokens.items():
        for token in raw:
            assert token in before, kind  # waiting to go out: the link has to be somewhere
    return user, issued, tokens


def assert_no_token_in_the_outbox(db_session, tokens) -> None:
    stored = outbox_text(db_session)
    for kind, raw in tokens.items():
        for token in raw:
            assert token not in stored, f"a raw {kind} token rests in the outbox"


def test_sent_emails_keep_no_raw_link_in_any_outbox_column(app, db_session, smtp_server):
    _user, _issued, tokens = every_link_bearing_email(db_session, NOW)
    smtp_server.start()
    report = deliver_due(db_session, SmtpMailer.from_url(smtp_server.url), SETTINGS, Clock(NOW))
    assert report.sent == len(smtp_server.inbox.messages) >= 5 and not report.failed
    received = "\n".join(body_of(m) + "\n".join(m.values()) for m in smtp_server.inbox.messages)
    assert [t for raw in tokens.values() for t in raw if t not in received] == []

    assert_no_token_in_the_outbox(db_session, tokens)
    # What the delivery page shows stays.
    db_session.expire_all()
    for message in db_session.scalars(select(OutboxMessage)):
        assert message.status == "sent" and message.sent_at == NOW
        assert {"to", "subject", "message_id", "meta"} <= set(message.payload) <= KEPT


def test_emails_that_give_up_keep_no_raw_link_but_one_without_links_keeps_its_text(app, db_session):
    _user, _issued, tokens = every_link_bearing_email(db_session, NOW)
    report = deliver_due(db_session, down(), GIVE_UP, Clock(NOW))
    assert report.failed >= 5 and not report.sent
    assert_no_token_in_the_outbox(db_session, tokens)
    db_session.expire_all()
    failed = db_session.scalars(select(OutboxMessage)).all()
    assert {m.status for m in failed} == {"failed"}
    assert all(m.last_error and m.payload["to"] and m.payload["subject"] for m in failed)
    # The owners' notice of a new opt-in links only to the (logged-in) review page.
    [notice] = [m for m in failed if m.dedupe_key and m.dedupe_key.startswith("opt-in-notice:")]
    assert "/testimonials" in notice.payload["text"]
    for message in failed:
        if message is not notice:
            assert set(message.payload) <= KEPT  # dropped, not kept in another form


def test_the_reminder_has_a_link_of_its_own_and_either_link_answers_once(
    app, client, db_session, smtp_server
):
    sent_at = utcnow() - dt.timedelta(days=4)
    _user, workspace = make_owner(db_session)
    issued = make_invitation(db_session, workspace, sent=False, now=sent_at)
    emails.queue_invitation_email(
        db_session, workspace, issued, base_url=BASE, secret_key=SECRET, now=sent_at
    )
    db_session.commit()
    smtp_server.start()
    mailer = SmtpMailer.from_url(smtp_server.url)
    assert deliver_due(db_session, mailer, SETTINGS, Clock(sent_at)).sent == 1

    assert emails.queue_due_reminders(db_session, utcnow()) == 1
    db_session.commit()
    assert deliver_due(db_session, mailer, SETTINGS, Clock(utcnow())).sent == 1
    first, reminder = smtp_server.inbox.messages
    # Compared unfolded: a long subject is folded, and not at the same place in both.
    assert unfolded(reminder["Subject"]) == "Reminder: " + unfolded(first["Subject"])
    assert SURVEY_LINK.findall(body_of(first))[0] == issued.token
    reminder_token = SURVEY_LINK.findall(body_of(reminder))[0]
    assert reminder_token != issued.token
    assert_no_token_in_the_outbox(db_session, {"survey": [issued.token, reminder_token]})

    assert client.get(f"/s/{issued.token}").status_code == 200
    page = client.get(f"/s/{reminder_token}")
    assert page.status_code == 200
    answered = client.post(
        f"/s/{reminder_token}", data={"rating": "4", "csrf_token": csrf_token_from(page)}
    )
    assert answered.status_code == 303
    again = client.get(f"/s/{issued.token}")
    assert again.status_code == 409 and "already answered" in again.text


def unfolded(header: str) -> str:
    return re.sub(r"\r?\n(?=[ \t])", "", header)


def retry(client, message_id: int):
    page = client.get("/settings/delivery")
    return client.post(
        f"/settings/delivery/{message_id}/retry",
        data={"csrf_token": csrf_token_from(page)},
        follow_redirects=True,
    )


def failed_one(db_session, dedupe_prefix: str | None = None, **meta) -> OutboxMessage:
    db_session.expire_all()
    found = [
        message
        for message in db_session.scalars(
            select(OutboxMessage).where(OutboxMessage.status == "failed")
        )
        if (dedupe_prefix is None or (message.dedupe_key or "").startswith(dedupe_prefix))
        and all(message.payload["meta"].get(k) == v for k, v in meta.items())
    ]
    [message] = found
    return message


def test_retry_of_a_failed_survey_email_sends_a_new_link_and_the_old_one_stops_working(
    app, client, db_session, auth, smtp_server
):
    user, workspace = make_owner(db_session)
    issued = make_invitation(db_session, workspace, sent=False, now=utcnow())
    emails.queue_invitation_email(
        db_session, workspace, issued, base_url=BASE, secret_key=SECRET, now=utcnow()
    )
    db_session.commit()
    assert deliver_due(db_session, down(), GIVE_UP, Clock(utcnow())).failed == 1
    assert_no_token_in_the_outbox(db_session, {"survey": [issued.token]})

    auth.login(user.email, PASSWORD)
    answer = retry(client, failed_one(db_session).id)
    assert answer.status_code == 200 and "Queued again" in answer.text
    smtp_server.start()
    mailer = SmtpMailer.from_url(smtp_server.url)
    assert deliver_due(db_session, mailer, SETTINGS, Clock(utcnow())).sent == 1
    [received] = smtp_server.inbox.messages
    [new_token] = set(SURVEY_LINK.findall(body_of(received)))
    assert new_token != issued.token
    assert_no_token_in_the_outbox(db_session, {"survey": [issued.token, new_token]})
    assert client.get(f"/s/{new_token}").status_code == 200
    assert client.get(f"/s/{issued.token}").status_code == 404


def test_retry_of_a_failed_reminder_mints_a_new_reminder_link(app, db_session):
    _user, workspace = make_owner(db_session)
    issued = make_invitation(db_session, workspace, sent=False)
    emails.queue_invitation_email(
        db_session, workspace, issued, base_url=BASE, secret_key=SECRET, now=NOW
    )
    answers.record_emails_sent(db_session, [{"invitation_id": issued.invitation.id}], NOW)
    db_session.commit()
    later = NOW + dt.timedelta(days=3)
    assert emails.queue_due_reminders(db_session, later) == 1
    db_session.commit()
    [first_reminder_token] = set(
        SURVEY_LINK.findall(failed_or_pending_text(db_session, "reminder:"))
    )
    deliver_due(db_session, down(), GIVE_UP, Clock(later))
    message = failed_one(db_session, "reminder:")
    assert services.retry_failed(
        db_session, workspace.id, message.id, later, base_url=BASE, secret_key=SECRET
    )
    db_session.commit()
    [new_token] = set(SURVEY_LINK.findall(failed_or_pending_text(db_session, "reminder:")))
    assert new_token not in (first_reminder_token, issued.token)
    assert surveys.find_link(db_session, new_token).id == issued.invitation.id
    assert surveys.find_link(db_session, issued.token).id == issued.invitation.id
    with pytest.raises(surveys.InvitationNotFound):
        surveys.find_link(db_session, first_reminder_token)


def failed_or_pending_text(db_session, dedupe_prefix: str) -> str:
    db_session.expire_all()
    [message] = db_session.scalars(
        select(OutboxMessage).where(OutboxMessage.dedupe_key.startswith(dedupe_prefix))
    ).all()
    return message.payload["text"]


def test_retry_of_a_survey_email_the_customer_since_answered_is_refused(
    app, client, db_session, auth
):
    user, workspace = make_owner(db_session)
    issued = make_invitation(db_session, workspace, sent=False, now=utcnow())
    emails.queue_invitation_email(
        db_session, workspace, issued, base_url=BASE, secret_key=SECRET, now=utcnow()
    )
    db_session.commit()
    deliver_due(db_session, down(), GIVE_UP, Clock(utcnow()))
    # e.g. the link was also printed, and the customer answered through it
    answers.submit_response(
        db_session, surveys.find_link(db_session, issued.token), surveys.Answer(rating=5), utcnow()
    )
    db_session.commit()
    auth.login(user.email, PASSWORD)
    message = failed_one(db_session)
    answer = retry(client, message.id)
    assert "Not queued again: The customer has answered this survey already." in answer.text
    db_session.expire_all()
    assert db_session.get(OutboxMessage, message.id).status == "failed"


@pytest.mark.parametrize("email", ["confirmation", "reconfirmation"])
def test_retry_of_a_failed_consent_email_delivers_a_working_consent_link(
    app, client, db_session, auth, smtp_server, email
):
    user, workspace = make_owner(db_session)
    testimonial = opted_in(db_session, workspace, now=utcnow())
    response = testimonial.response
    if email == "confirmation":
        consent.after_opt_in(
            db_session,
            response,
            workspace,
            response.stage,
            response.contact.email,
            base_url=BASE,
            now=utcnow(),
        )
    else:
        consent.request_reconfirmation(db_session, workspace, testimonial.id, utcnow())
    db_session.commit()
    old_tokens = set(CONSENT_LINK.findall(outbox_text(db_session)))
    deliver_due(db_session, down(), GIVE_UP, Clock(utcnow()))
    assert_no_token_in_the_outbox(db_session, {"consent": old_tokens})

    if email == "confirmation":
        message = failed_one(db_session, "consent-confirmation:")
    else:
        message = failed_one(db_session, reconfirmation=True)
    assert message.payload["to"] == response.contact.email
    auth.login(user.email, PASSWORD)
    assert "Queued again" in retry(client, message.id).text
    smtp_server.start()
    mailer = SmtpMailer.from_url(smtp_server.url)
    assert deliver_due(db_session, mailer, SETTINGS, Clock(utcnow())).sent == 1
    [received] = smtp_server.inbox.messages
    assert received["To"] == response.contact.email
    [new_token] = set(CONSENT_LINK.findall(body_of(received)))
    assert new_token not in old_tokens
    assert_no_token_in_the_outbox(db_session, {"consent": {new_token}})
    page = client.get(f"/consent/{new_token}")
    assert page.status_code == 200 and "withdraw" in page.text.lower()


def test_retry_of_a_failed_password_email_is_refused_and_says_what_to_do(
    app, client, db_session, auth
):
    user, _workspace = make_owner(db_session)
    accounts.request_password_reset(
        db_session, user.email, secret_key=SECRET, base_url=BASE, now=utcnow()
    )
    db_session.commit()
    deliver_due(db_session, down(), GIVE_UP, Clock(utcnow()))
    message = failed_one(db_session)
    assert "text" not in message.payload
    auth.login(user.email, PASSWORD)
    answer = retry(client, message.id)
    assert answer.status_code == 200
    assert "This email held a password link that has expired" in answer.text
    assert "team page" in answer.text and "reset their password" in answer.text
    db_session.expire_all()
    assert db_session.get(OutboxMessage, message.id).status == "failed"


def test_an_email_without_links_is_retried_as_it_was(app, client, db_session, auth, smtp_server):
    user, workspace = make_owner(db_session)
    testimonial = opted_in(db_session, workspace, now=utcnow())
    response = testimonial.response
    # No address for the customer: only the owners' notice goes out.
    consent.after_opt_in(
        db_session, response, workspace, response.stage, None, base_url=BASE, now=utcnow()
    )
    db_session.commit()
    [queued] = db_session.scalars(select(OutboxMessage)).all()
    text = queued.payload["text"]
    deliver_due(db_session, down(), GIVE_UP, Clock(utcnow()))
    message = failed_one(db_session)
    assert message.payload["text"] == text

    auth.login(user.email, PASSWORD)
    assert "Queued again" in retry(client, message.id).text
    smtp_server.start()
    mailer = SmtpMailer.from_url(smtp_server.url)
    assert deliver_due(db_session, mailer, SETTINGS, Clock(utcnow())).sent == 1
    [received] = smtp_server.inbox.messages
    assert body_of(received).split("\n")[0] == text.split("\n")[0]
    assert text.strip() in body_of(received).replace("\r\n", "\n")
    # Sent, it keeps no text either.
    db_session.expire_all()
    assert "text" not in db_session.get(OutboxMessage, message.id).payload


def test_the_follow_up_emails_declare_they_carry_no_link(app, db_session):
    """The assignment notice links only to a page behind a login (the digest too)."""
    user, workspace = make_owner(db_session)
    response = make_response(db_session, workspace, rating=1, comment="Late and rude.")
    followups.notify_assignee(
        db_session, workspace, response, user, assigned_by="Ann", base_url=BASE, now=NOW
    )
    db_session.commit()
    messages = db_session.scalars(select(OutboxMessage)).all()
    assert messages and all(m.payload["links"] is False for m in messages)


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
