"""One reminder for an unanswered survey email, at the right time, never twice."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from feedback import answers
from feedback.delivery.models import OutboxMessage
from feedback.surveys import emails, services
from feedback.surveys.services import Answer
from tests.factories import NOW, link_of, make_invitation, make_workspace


def emailed(app, db_session, workspace, **kwargs):
    """An invitation whose survey email went out at NOW."""
    issued = make_invitation(db_session, workspace, sent=False, **kwargs)
    emails.queue_invitation_email(
        db_session,
        workspace,
        issued,
        base_url="https://fb.example.com",
        secret_key="test-secret-key",
        now=NOW,
    )
    answers.record_emails_sent(db_session, [{"invitation_id": issued.invitation.id}], NOW)
    db_session.commit()
    return issued


def reminders(db_session):
    return db_session.scalars(
        select(OutboxMessage).where(OutboxMessage.dedupe_key.like("reminder:%"))
    ).all()


def test_an_unanswered_email_gets_one_reminder_after_the_reminder_days(app, db_session):
    workspace = make_workspace(db_session)
    issued = emailed(app, db_session, workspace)
    assert emails.queue_due_reminders(db_session, NOW + dt.timedelta(days=2, hours=23)) == 0
    assert emails.queue_due_reminders(db_session, NOW + dt.timedelta(days=3)) == 1
    db_session.commit()
    assert emails.queue_due_reminders(db_session, NOW + dt.timedelta(days=10)) == 0
    [reminder] = reminders(db_session)
    original = db_session.scalar(
        select(OutboxMessage).where(
            OutboxMessage.dedupe_key == f"invitation:{issued.invitation.id}"
        )
    )
    assert reminder.payload["subject"] == "Reminder: " + original.payload["subject"]
    # A link of its own (the first one's raw token is kept nowhere), opening the same invitation.
    token = reminder_token(reminder)
    assert token != issued.token
    assert services.find_link(db_session, token).id == issued.invitation.id
    assert services.find_link(db_session, issued.token).id == issued.invitation.id
    assert reminder.payload["message_id"] != original.payload["message_id"]
    assert reminder.payload["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    db_session.refresh(issued.invitation)
    assert issued.invitation.reminder_count == 1


def reminder_token(reminder) -> str:
    return re.search(r"/s/([A-Za-z0-9_-]+)", reminder.payload["text"]).group(1)


@pytest.mark.parametrize("answered_through", ["reminder", "first email"])
def test_either_link_answers_the_invitation_and_only_once(app, db_session, answered_through):
    workspace = make_workspace(db_session)
    issued = emailed(app, db_session, workspace)
    assert emails.queue_due_reminders(db_session, NOW + dt.timedelta(days=3)) == 1
    db_session.commit()
    links = [reminder_token(reminders(db_session)[0]), issued.token]
    if answered_through == "first email":
        links.reverse()
    first, other = links
    later = NOW + dt.timedelta(days=4)
    response = answers.submit_response(
        db_session, services.find_link(db_session, first), Answer(rating=4), later
    )
    db_session.commit()
    assert response.invitation_id == issued.invitation.id
    with pytest.raises(services.AlreadyAnswered):
        services.check_answerable(services.find_link(db_session, other), later)
    with pytest.raises(services.AlreadyAnswered):
        answers.submit_response(
            db_session, services.find_link(db_session, other), Answer(rating=1), later
        )


def test_no_reminder_after_an_answer_expiry_or_unsubscribe(app, db_session):
    workspace = make_workspace(db_session)
    answered = emailed(app, db_session, workspace)
    answers.submit_response(db_session, link_of(db_session, answered), Answer(rating=4), NOW)
    expiring = emailed(app, db_session, workspace)
    expiring.invitation.expires_at = NOW + dt.timedelta(days=2)
    gone = emailed(app, db_session, workspace)
    services.unsubscribe(db_session, gone.invitation.contact, NOW)
    db_session.commit()
    assert emails.queue_due_reminders(db_session, NOW + dt.timedelta(days=4)) == 0


def test_reminders_follow_the_workspace_setting_and_zero_turns_them_off(app, db_session):
    quiet = make_workspace(db_session)
    quiet.reminder_days = 0
    slow = make_workspace(db_session)
    slow.reminder_days = 7
    db_session.commit()
    emailed(app, db_session, quiet)
    emailed(app, db_session, slow)
    assert emails.queue_due_reminders(db_session, NOW + dt.timedelta(days=6)) == 0
    assert emails.queue_due_reminders(db_session, NOW + dt.timedelta(days=7)) == 1
    assert {r.workspace_id for r in reminders(db_session)} == {slow.id}


def test_links_handed_out_by_hand_get_no_reminder_email(app, db_session):
    workspace = make_workspace(db_session)
    make_invitation(db_session, workspace)  # printed by the CLI, marked sent, no email
    assert emails.queue_due_reminders(db_session, NOW + dt.timedelta(days=5)) == 0
    assert db_session.scalar(select(func.count(OutboxMessage.id))) == 0
