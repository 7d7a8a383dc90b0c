"""One workspace can't stop delivery for the others: poisonous settings fail alone,
slow webhook receivers never delay email, and the worker outlives a database outage.

Real parts: an aiosmtpd server, TCP receivers on loopback, the real worker loop in a
thread, and (for the outage) a PostgreSQL cluster of the test's own that is stopped
and started again.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import socket
import threading
import time

from sqlalchemy import select, update

from feedback import create_app
from feedback.accounts.models import Workspace
from feedback.config import config_for_tests
from feedback.db import utcnow
from feedback.delivery import services, webhooks
from feedback.delivery.mailer import SmtpMailer
from feedback.delivery.models import OutboxMessage, WebhookEndpoint
from feedback.delivery.worker import DeliverySettings, deliver_due
from feedback.extensions import db
from feedback.surveys import emails
from tests.factories import NOW, make_invitation, make_response, make_workspace
from tests.pg_cluster import private_postgres  # noqa: F401 (a fixture)
from tests.support.database import migrate_to_head
from tests.support.delivery import Clock, run_in_thread, wait_for

SETTINGS = DeliverySettings(
    mail_from="Feedback <feedback@example.com>", retry_base_seconds=60, max_attempts=3
)


def queue_emails(session, workspace, count, now=NOW):
    for n in range(count):
        services.enqueue_email(
            session,
            workspace.id,
            to=f"w{workspace.id}-customer{n}@example.com",
            subject=f"How was it? #{n}",
            text="text",
            now=now,
        )
    session.commit()


def poison_webhook(session, url):
    """A webhook endpoint stored as is, as if the form had let it through, with one call."""
    workspace = make_workspace(session)
    session.add(
        WebhookEndpoint(
            workspace_id=workspace.id, url=url, events="response.created", secret="s" * 64
        )
    )
    session.commit()
    webhooks.enqueue_events(session, workspace.id, ["response.created"], {"n": 1}, NOW)
    session.commit()
    return workspace


def raw_email(session, workspace, payload, kind="email"):
    session.add(
        OutboxMessage(
            workspace_id=workspace.id,
            kind=kind,
            payload=payload,
            status="pending",
            attempts=0,
            next_attempt_at=NOW,
            created_at=NOW,
        )
    )
    session.commit()


def test_poisonous_urls_and_sender_names_fail_alone_and_every_other_email_arrives(
    app, db_session, smtp_server
):
    for url in ("http://127.0.0.1:abc/", "http://[::1/", "http://a..b/", "http://0x7f.1/"):
        poison_webhook(db_session, url)
    # A sender name with a line break, from before the settings refused them.
    newline = make_workspace(db_session, "Newline Plants")
    db_session.execute(
        update(Workspace)
        .where(Workspace.id == newline.id)
        .values(sender_name="Evil\r\nBcc: victim@evil.example", sender_address="shop@nl.example")
    )
    db_session.commit()
    db_session.refresh(newline)
    issued = make_invitation(db_session, newline, sent=False, email="ann@example.com")
    emails.queue_invitation_email(
        db_session, newline, issued, base_url="https://fb.example", secret_key="k", now=NOW
    )
    db_session.commit()
    # Rows nothing should produce, but a bug or an old release might have.
    broken = make_workspace(db_session)
    raw_email(
        db_session,
        broken,
        {
            "to": "bob@example.com",
            "subject": "Hi\r\nBcc: victim@evil.example",
            "text": "t",
            "from": "Evil\nBcc: victim@evil.example <shop@evil.example>",
            "headers": {"X-Ok\r\nBcc": "x", "List-Id": "a\r\nBcc: victim@evil.example"},
            "message_id": "<not\r\nan id>",
        },
    )
    raw_email(db_session, broken, {"to": "c@example.com\r\nBcc: victim@evil.example", "text": "t"})
    raw_email(db_session, broken, {"nonsense": True})
    raw_email(db_session, broken, ["not", "a", "payload"])
    raw_email(db_session, broken, {"endpoint_id": 10**30, "body": "{}", "event": "x"}, "webhook")
    raw_email(db_session, broken, {"endpoint_id": "x"}, "webhook")
    others = [make_workspace(db_session) for _ in range(4)]
    for workspace in others:
        queue_emails(db_session, workspace, 3)
    smtp_server.start()

    report = deliver_due(db_session, SmtpMailer.from_url(smtp_server.url), SETTINGS, Clock(NOW))

    received = {m["To"] for m in smtp_server.inbox.messages}
    assert {f"w{w.id}-customer{n}@example.com" for w in others for n in range(3)} <= received
    assert {"ann@example.com", "bob@example.com"} <= received
    # Nobody was added as a recipient, no header was smuggled in.
    assert all(len(rcpts) == 1 for _from, rcpts in smtp_server.inbox.envelopes)
    for message in smtp_server.inbox.messages:
        assert message["Bcc"] is None
        # Long headers are folded (a line break then a space); nothing else may break a line.
        unfolded = [re.sub(r"\r?\n[ \t]", " ", value) for value in message.values()]
        assert all("\n" not in value and "\r" not in value for value in unfolded)
    from_ann = next(m for m in smtp_server.inbox.messages if m["To"] == "ann@example.com")
    assert from_ann["From"] == '"Evil Bcc: victim@evil.example" <shop@nl.example>'
    db_session.expire_all()
    statuses = {
        (m.kind, m.status) for m in db_session.scalars(select(OutboxMessage)) if m.status != "sent"
    }
    assert statuses <= {("webhook", "failed"), ("webhook", "pending"), ("email", "failed")}
    failures = {
        m.last_error
        for m in db_session.scalars(select(OutboxMessage).where(OutboxMessage.status != "sent"))
    }
    assert "refused: not a valid URL" in failures
    assert "refused: not a valid host name" in failures
    assert "refused: a loopback address, not a public address" in failures
    assert "failed: no valid recipient or text" in failures
    assert "failed (not a webhook message)" in failures
    assert report.sent == 14


class HangingReceiver:
    """Accepts connections, reads the request, and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(connection)

    def close(self) -> None:
        self.sock.close()
        for connection in self.held:
            connection.close()


def test_webhook_receivers_that_never_answer_do_not_delay_email(app, db_session, smtp_server):
    receivers = [HangingReceiver() for _ in range(3)]
    try:
        for receiver in receivers:
            workspace = make_workspace(db_session)
            webhooks.register_webhook(
                db_session,
                workspace.id,
                receiver.url,
                ["response.created"],
                NOW,
                allow_private=True,
            )
            db_session.commit()
            make_response(db_session, workspace, now=utcnow() - dt.timedelta(minutes=1))
        shop = make_workspace(db_session)
        queue_emails(db_session, shop, 5, now=utcnow() - dt.timedelta(minutes=1))
        smtp_server.start()
        settings = DeliverySettings(
            mail_from="feedback@example.com",
            retry_base_seconds=60,
            max_attempts=3,
            webhook_allow_private=True,
            webhook_total_timeout=8,
        )
        stop, thread, errors = run_in_thread(
            app, SmtpMailer.from_url(smtp_server.url), settings, interval=0.2
        )
        try:
            wait_for(lambda: all(len(r.held) == 1 for r in receivers), 5)
            took = wait_for(lambda: len(smtp_server.inbox.messages) == 5, 5)
            assert took < 3, f"emails waited {took:.1f} s for the webhooks"
            assert all(len(r.held) == 1 for r in receivers)  # still hanging meanwhile
        finally:
            stop.set()
            thread.join(timeout=30)
        assert not errors and not thread.is_alive()
        db_session.expire_all()
        calls = db_session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "webhook"))
        assert {m.last_error for m in calls} == {"failed (timeout)"}
    finally:
        for receiver in receivers:
            receiver.close()


class LogLines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def text(self) -> str:
        return "\n".join(self.lines)


def test_the_worker_outlives_a_database_outage_and_sends_what_came_after(
    private_postgres,  # noqa: F811
    smtp_server,
):
    url = private_postgres.create_database("outage")
    migrate_to_head(url)
    app = create_app(config_for_tests(url))
    smtp_server.start()
    with app.app_context():
        workspace = make_workspace(db.session)
        workspace_id = workspace.id
        queue_emails(db.session, workspace, 1, now=utcnow())
    settings = DeliverySettings(
        mail_from="feedback@example.com",
        retry_base_seconds=1,
        max_attempts=3,
        outage_backoff_max=1,
    )
    # Alembic's fileConfig (in the migrations' env.py) disables the loggers that existed
    # before it and replaces the root's handlers (pytest's too): listen on the logger itself.
    worker_log = logging.getLogger("feedback.delivery.worker")
    worker_log.disabled = False
    logged = LogLines()
    worker_log.addHandler(logged)
    stop, thread, errors = run_in_thread(
        app, SmtpMailer.from_url(smtp_server.url), settings, interval=0.2
    )
    try:
        wait_for(lambda: len(smtp_server.inbox.messages) == 1, 15)
        private_postgres.stop()
        wait_for(lambda: "database error" in logged.text(), 15)
        time.sleep(2)  # a few failed rounds
        assert thread.is_alive() and not errors
        private_postgres.start()
        with app.app_context():
            services.enqueue_email(
                db.session,
                workspace_id,
                to="after@example.com",
                subject="After the outage",
                text="text",
                now=utcnow(),
            )
            db.session.commit()
        wait_for(lambda: len(smtp_server.inbox.messages) == 2, 30)
    finally:
        stop.set()
        thread.join(timeout=30)
        worker_log.removeHandler(logged)
        with app.app_context():
            db.engine.dispose()
    assert not errors and not thread.is_alive()
    assert smtp_server.inbox.messages[-1]["To"] == "after@example.com"
    # Logged without personal data: no address, no statement.
    assert "@example.com" not in logged.text() and "SELECT" not in logged.text()
