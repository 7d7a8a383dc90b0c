"""The loop that hands outbox emails to the SMTP server."""

from __future__ import annotations

import datetime as dt
import smtplib
from collections.abc import Callable
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
    lease: dt.timedelta = services.DEFAULT_LEASE
    # Told about each delivered message (its `meta`), in the same transaction
    # that records the send; e.g. marks the invitation it carried as sent.
    on_sent: Callable[[Session, dict[str, Any], dt.datetime], None] | None = None


def deliver_batch(
    session: Session,
    mailer: SmtpMailer,
    settings: DeliverySettings,
    now: Callable[[], dt.datetime],
) -> DeliveryReport:
    """Claim one batch of due messages, deliver them, record each outcome as it happens.

    Each outcome is committed right after its send, so a crash loses at most
    the knowledge that one message went out (it is then sent again): delivery
    is at least once, and messages are never dropped.
    """
    report = DeliveryReport()
    ids = services.claim_due(session, now(), limit=settings.batch, lease=settings.lease)
    session.commit()
    if not ids:
        return report
    messages = list(
        session.scalars(
            select(OutboxMessage).where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id)
        )
    )

    def failed(message: OutboxMessage, error: str) -> None:
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

    for message in [m for m in messages if m.kind == "webhook"]:
        error = webhooks.post_webhook(session, message, now())
        if error is None:
            services.mark_sent(message, now())
            report.sent += 1
            session.commit()
        else:
            failed(message, error)
    emails = [m for m in messages if m.kind == "email"]
    if not emails:
        return report
    try:
        smtp = mailer.connect()
    except (OSError, smtplib.SMTPException) as error:
        for message in emails:
            failed(message, f"SMTP server unreachable: {error}")
        return report
    with smtp:
        for index, message in enumerate(emails):
            try:
                smtp.send_message(build_email(message.payload, settings.mail_from))
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError) as error:
                failed(message, f"refused: {error}")
            except (OSError, smtplib.SMTPException) as error:
                # The connection is gone: this and the rest go back in the queue.
                for rest in emails[index:]:
                    failed(rest, f"SMTP error: {error}")
                break
            else:
                services.mark_sent(message, now())
                if settings.on_sent is not None:
                    settings.on_sent(session, message.payload.get("meta") or {}, now())
                report.sent += 1
                session.commit()
    return report


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
