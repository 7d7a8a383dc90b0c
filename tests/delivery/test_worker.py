"""The outbox worker against a real SMTP server."""

from __future__ import annotations

import datetime as dt
from email.header import decode_header, make_header
from email.utils import parseaddr

from sqlalchemy import func, select

from feedback.delivery import services
from feedback.delivery.mailer import SmtpMailer
from feedback.delivery.models import OutboxMessage
from feedback.delivery.worker import DeliverySettings, deliver_due
from tests.factories import NOW, make_workspace
from tests.support.delivery import SETTINGS, Clock, enqueue


def test_an_email_goes_out_with_text_and_html_parts(db_session, smtp_server):
    workspace = make_workspace(db_session)
    [message] = enqueue(db_session, workspace)
    smtp_server.start()
    report = deliver_due(db_session, SmtpMailer.from_url(smtp_server.url), SETTINGS, Clock(NOW))
    assert (report.sent, report.retrying, report.failed) == (1, 0, 0)
    [received] = smtp_server.inbox.messages
    assert received["To"] == "customer0@example.com"
    assert received["From"] == "Shop <shop@example.com>"
    assert received["Message-ID"] == message.payload["message_id"]
    assert received["List-Unsubscribe"] == "<https://example.com/u/x>"
    assert [p.get_content_type() for p in received.walk()][1:] == ["text/plain", "text/html"]
    db_session.expire_all()
    stored = db_session.get(OutboxMessage, message.id)
    assert (stored.status, stored.attempts, stored.sent_at) == ("sent", 1, NOW)


def test_smtp_down_then_up_delivers_every_email_exactly_once(db_session, smtp_server):
    workspace = make_workspace(db_session)
    enqueue(db_session, workspace, count=5)
    mailer = SmtpMailer.from_url(smtp_server.url)
    clock = Clock(NOW)
    down = deliver_due(db_session, mailer, SETTINGS, clock)
    assert (down.sent, down.retrying) == (0, 5)
    db_session.expire_all()
    waiting = db_session.scalars(select(OutboxMessage)).all()
    assert {(m.status, m.attempts, m.next_attempt_at) for m in waiting} == {
        ("pending", 1, NOW + dt.timedelta(seconds=60))
    }
    assert all("unreachable" in m.last_error for m in waiting)
    smtp_server.start()
    clock.advance(seconds=30)
    assert deliver_due(db_session, mailer, SETTINGS, clock).sent == 0  # not due yet
    clock.advance(seconds=31)
    assert deliver_due(db_session, mailer, SETTINGS, clock).sent == 5
    clock.advance(days=1)
    assert deliver_due(db_session, mailer, SETTINGS, clock).sent == 0
    ids = smtp_server.inbox.message_ids()
    assert len(ids) == 5 and len(set(ids)) == 5


def test_retries_back_off_exponentially_then_give_up(db_session, smtp_server):
    workspace = make_workspace(db_session)
    [message] = enqueue(db_session, workspace)
    mailer = SmtpMailer.from_url(smtp_server.url)
    clock = Clock(NOW)
    delays = []
    for _ in range(3):
        deliver_due(db_session, mailer, SETTINGS, clock)
        db_session.expire_all()
        stored = db_session.get(OutboxMessage, message.id)
        delays.append((stored.next_attempt_at - clock.now).total_seconds())
        clock.now = stored.next_attempt_at
    assert delays[:2] == [60, 120]
    assert (stored.status, stored.attempts) == ("failed", 3)


def test_a_worker_killed_between_claim_and_send_has_its_message_sent_later_once(
    db_session, smtp_server
):
    workspace = make_workspace(db_session)
    [message] = enqueue(db_session, workspace)
    # The first worker claims, commits, and dies before sending.
    assert services.claim_due(db_session, NOW) == [message.id]
    db_session.commit()
    smtp_server.start()
    mailer = SmtpMailer.from_url(smtp_server.url)
    clock = Clock(NOW + dt.timedelta(minutes=1))
    assert deliver_due(db_session, mailer, SETTINGS, clock).sent == 0  # still leased
    clock.advance(minutes=5)
    assert deliver_due(db_session, mailer, SETTINGS, clock).sent == 1
    assert smtp_server.inbox.message_ids() == [message.payload["message_id"]]
    db_session.expire_all()
    assert db_session.get(OutboxMessage, message.id).attempts == 2


def test_an_enqueued_email_is_dropped_with_a_rolled_back_transaction(db_session):
    workspace = make_workspace(db_session)
    services.enqueue_email(
        db_session, workspace.id, to="a@example.com", subject="s", text="t", now=NOW
    )
    db_session.rollback()
    assert db_session.scalar(select(func.count(OutboxMessage.id))) == 0


def test_the_worker_command_sends_what_is_due_once(runner, app, db_session, smtp_server):
    workspace = make_workspace(db_session)
    enqueue(db_session, workspace, count=2)
    smtp_server.start()
    app.config["SMTP_URL"] = smtp_server.url
    result = runner.invoke(args=["feedback", "worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "sent 2, retrying 0, failed 0" in result.output
    assert len(smtp_server.inbox.messages) == 2
    app.config["SMTP_URL"] = "http://nope"
    bad = runner.invoke(args=["feedback", "worker", "--once"])
    assert bad.exit_code != 0 and "SMTP_URL must look like" in bad.output


def test_two_workers_draining_a_thousand_emails_send_each_exactly_once(
    app, db_session, smtp_server
):
    import threading

    from feedback.extensions import db

    workspace = make_workspace(db_session)
    messages = enqueue(db_session, workspace, count=1000)
    smtp_server.start()
    mailer = SmtpMailer.from_url(smtp_server.url)
    settings = DeliverySettings(
        mail_from="shop@example.com", retry_base_seconds=60, max_attempts=3, batch=25
    )
    reports, errors = [], []

    def work() -> None:
        try:
            with app.app_context():
                reports.append(deliver_due(db.session, mailer, settings, Clock(NOW)))
        except BaseException as error:  # surfaced below
            errors.append(error)

    start = threading.Barrier(2)

    def work_together() -> None:
        start.wait(timeout=10)
        work()

    workers = [threading.Thread(target=work_together) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not errors, errors
    assert sum(r.sent for r in reports) == 1000
    if db_session.get_bind().dialect.name == "postgresql":
        # SKIP LOCKED lets both take batches side by side; SQLite's single
        # writer may let one worker starve the other, which is allowed there.
        assert all(r.sent > 0 for r in reports), "one worker did everything"
    ids = smtp_server.inbox.message_ids()
    assert len(ids) == 1000
    assert set(ids) == {m.payload["message_id"] for m in messages}


def test_a_refused_recipient_fails_alone_while_the_others_go_out(db_session, smtp_server):
    workspace = make_workspace(db_session)
    messages = enqueue(db_session, workspace, count=6)
    smtp_server.inbox.refused.add("customer3@example.com")
    smtp_server.start()
    report = deliver_due(db_session, SmtpMailer.from_url(smtp_server.url), SETTINGS, Clock(NOW))
    assert (report.sent, report.retrying, report.failed) == (5, 1, 0)
    assert sorted(m["To"] for m in smtp_server.inbox.messages) == [
        f"customer{n}@example.com" for n in (0, 1, 2, 4, 5)
    ]
    db_session.expire_all()
    refused = db_session.get(OutboxMessage, messages[3].id)
    assert refused.status == "pending" and "550" in refused.last_error


def test_non_ascii_sender_names_and_subjects_arrive_readable(db_session, smtp_server):
    workspace = make_workspace(db_session)
    services.enqueue_email(
        db_session,
        workspace.id,
        to="ana@example.com",
        subject="Café Rosé: ¿qué tal la entrega?",
        text="Grüße — merci",
        html="<p>Grüße — merci</p>",
        sender="Café Rosé <hola@cafe.example>",
        now=NOW,
    )
    db_session.commit()
    smtp_server.start()
    deliver_due(db_session, SmtpMailer.from_url(smtp_server.url), SETTINGS, Clock(NOW))
    [received] = smtp_server.inbox.messages
    assert str(make_header(decode_header(received["Subject"]))) == "Café Rosé: ¿qué tal la entrega?"
    name, address = parseaddr(str(make_header(decode_header(received["From"]))))
    assert (name, address) == ("Café Rosé", "hola@cafe.example")
    [text, html] = [p.get_payload(decode=True).decode() for p in list(received.walk())[1:]]
    assert text.strip() == "Grüße — merci" and "Grüße" in html
