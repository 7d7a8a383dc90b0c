"""The loop that hands outbox emails to the SMTP server."""

from __future__ import annotations

import contextlib
import datetime as dt
import queue
import smtplib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedback.delivery import services, webhooks
from feedback.delivery.mailer import SmtpMailer, build_email
from feedback.delivery.models import OutboxMessage


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    def add(self, other: DeliveryReport) -> None:
        self.sent += other.sent
        self.retrying += other.retrying
        self.failed += other.failed


@dataclass(frozen=True)
class DeliverySettings:
    mail_from: str
    retry_base_seconds: int
    max_attempts: int
    batch: int = 50
    # SMTP connections used at once; providers often allow a handful.
    connections: int = 2
    lease: dt.timedelta = services.DEFAULT_LEASE
    # Sends are recorded (committed) in groups of this many, or every 0.2 s:
    # a crash re-sends at most one group, and the database is not asked for a
    # commit per email.
    record_every: int = 20
    # Told about delivered messages (their `meta`s), in the same transaction
    # that records the sends; e.g. marks the invitations they carried as sent.
    on_sent: Callable[[Session, list[dict[str, Any]], dt.datetime], None] | None = None


def deliver_batch(
    session: Session,
    mailer: SmtpMailer,
    settings: DeliverySettings,
    now: Callable[[], dt.datetime],
) -> DeliveryReport:
    """Claim one batch of due messages, deliver them, record the outcomes as they come.

    Sends are committed in small groups (`record_every`, or every 0.2 s) and
    failures at once, so a crash loses at most the knowledge that one group
    went out (it is then sent again): delivery is at least once, and messages
    are never dropped.
    """
    report = DeliveryReport()
    ids = services.claim_due(session, now(), limit=settings.batch, lease=settings.lease)
    session.commit()
    if not ids:
        return report
    # Plain rows: ORM objects would be expired and reloaded after every commit.
    messages = session.execute(
        select(OutboxMessage.id, OutboxMessage.kind, OutboxMessage.payload)
        .where(OutboxMessage.id.in_(ids))
        .order_by(OutboxMessage.id)
    ).all()

    def failed(message_id: int, error: str) -> None:
        message = session.get(OutboxMessage, message_id)
        assert message is not None
        services.mark_failed(
            message,
            error,
            now(),
            retry_base_seconds=settings.retry_base_seconds,
            max_attempts=settings.max_attempts,
        )
        if message.status == "failed":
            report.failed += 1
        else:
            report.retrying += 1
        session.commit()

    for message_id, _, _ in [m for m in messages if m.kind == "webhook"]:
        webhook = session.get(OutboxMessage, message_id)
        assert webhook is not None
        error = webhooks.post_webhook(session, webhook, now())
        if error is None:
            services.record_sent(session, [message_id], now())
            report.sent += 1
            session.commit()
        else:
            failed(message_id, error)
    emails = [m for m in messages if m.kind == "email"]
    sent: list[Any] = []
    recorded_at = time.monotonic()

    def record_sent() -> None:
        nonlocal recorded_at
        if sent:
            services.relax_commit_durability(session)
            services.record_sent(session, [m.id for m in sent], now())
            if settings.on_sent is not None:
                settings.on_sent(session, [m.payload.get("meta") or {} for m in sent], now())
            report.sent += len(sent)
            session.commit()
            sent.clear()
        recorded_at = time.monotonic()

    for message, error in _send_emails(mailer, emails, settings):
        if error is not None:
            record_sent()
            failed(message.id, error)
            continue
        sent.append(message)
        if len(sent) >= settings.record_every or time.monotonic() - recorded_at > 0.2:
            record_sent()
    record_sent()
    return report


def _send_emails(
    mailer: SmtpMailer, emails: list[Any], settings: DeliverySettings
) -> Iterator[tuple[Any, str | None]]:
    """Send over `settings.connections` SMTP connections at once; yield (message, error) each.

    While one connection waits for the server's reply, another builds and
    sends the next message. A connection that fails stops; what no connection
    could send comes back with the last error, to be retried later.
    """
    todo: queue.SimpleQueue[Any] = queue.SimpleQueue()
    for message in emails:
        todo.put(message)
    done: queue.SimpleQueue[tuple[Any, str | None]] = queue.SimpleQueue()

    def sender() -> None:
        try:
            smtp = mailer.connect()
        except (OSError, smtplib.SMTPException) as error:
            done.put((None, f"SMTP server unreachable: {error}"))
            return
        try:
            while True:
                try:
                    message = todo.get_nowait()
                except queue.Empty:
                    break
                try:
                    smtp.send_message(build_email(message.payload, settings.mail_from))
                except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError) as error:
                    done.put((message, f"refused: {error}"))
                except (OSError, smtplib.SMTPException) as error:
                    # This connection is gone; the message goes back in the queue.
                    done.put((message, f"SMTP error: {error}"))
                    break
                else:
                    done.put((message, None))
        finally:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                smtp.quit()
            smtp.close()
            done.put((None, None))

    threads = [
        threading.Thread(target=sender, daemon=True)
        for _ in range(min(settings.connections, len(emails)))
    ]
    for thread in threads:
        thread.start()
    running, last_error = len(threads), "SMTP error"
    while running:
        message, error = done.get()
        if message is None:
            running -= 1
            last_error = error or last_error
        else:
            yield message, error
    for thread in threads:
        thread.join()
    while not todo.empty():
        yield todo.get(), last_error


def deliver_due(
    session: Session,
    mailer: SmtpMailer,
    settings: DeliverySettings,
    now: Callable[[], dt.datetime],
) -> DeliveryReport:
    """Send batches until nothing is due."""
    total = DeliveryReport()
    while True:
        report = deliver_batch(session, mailer, settings, now)
        total.add(report)
        if report.sent + report.retrying + report.failed == 0:
            return total
