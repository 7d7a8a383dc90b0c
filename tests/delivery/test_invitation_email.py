"""A survey invitation going out through the outbox to a real SMTP server."""

from __future__ import annotations

from sqlalchemy import func, select

from feedback import answers
from feedback.delivery.mailer import SmtpMailer
from feedback.delivery.worker import DeliverySettings, deliver_due
from feedback.insights.models import StageDailyStat
from feedback.surveys import emails
from feedback.surveys.models import Invitation
from tests.factories import NOW, make_invitation, make_workspace
from tests.support.delivery import Clock


def test_a_sent_invitation_email_marks_the_invitation_sent(app, db_session, smtp_server):
    workspace = make_workspace(db_session, "Greenleaf Plants")
    issued = make_invitation(db_session, workspace, sent=False)
    emails.queue_invitation_email(
        db_session,
        workspace,
        issued,
        base_url="https://fb.example.com",
        secret_key="test-secret-key",
        now=NOW,
    )
    db_session.commit()
    smtp_server.start()
    settings = DeliverySettings(
        mail_from="survey@example.com",
        retry_base_seconds=60,
        max_attempts=3,
        on_sent=answers.record_emails_sent,
    )
    report = deliver_due(db_session, SmtpMailer.from_url(smtp_server.url), settings, Clock(NOW))
    assert report.sent == 1
    [received] = smtp_server.inbox.messages
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    parts = {
        p.get_content_type(): p.get_payload(decode=True).decode()
        for p in received.walk()
        if not p.is_multipart()
    }
    assert f"https://fb.example.com/s/{issued.token}" in parts["text/plain"]
    assert "Greenleaf Plants" in parts["text/html"]
    db_session.expire_all()
    invitation = db_session.get(Invitation, issued.invitation.id)
    assert (invitation.status, invitation.sent_at) == ("sent", NOW)
    assert db_session.scalar(select(func.sum(StageDailyStat.invitations_sent))) == 1
