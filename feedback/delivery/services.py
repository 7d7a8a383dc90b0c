"""Outbox: enqueue in the caller's transaction; claim, send, retry with backoff."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.orm import Session

from feedback.db import workspace_scoped
from feedback.delivery.models import OUTBOX_STATUSES, OutboxMessage

DEFAULT_LEASE = dt.timedelta(minutes=5)


def new_message_id(domain: str) -> str:
    """A globally unique, stable Message-ID; kept in the payload so a resend reuses it."""
    return f"<{secrets.token_hex(16)}@{domain}>"


@dataclass(frozen=True)
class Email:
    """An email to put in the outbox."""

    to: str
    subject: str
    text: str
    html: str | None = None
    headers: dict[str, str] | None = None
    sender: str | None = None
    message_domain: str = "feedback.invalid"
    dedupe_key: str | None = None
    # Travels with the message for whoever handles its outcome (e.g. the
    # invitation it delivers).
    meta: dict[str, Any] | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "to": self.to,
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "headers": self.headers or {},
            "from": self.sender,
            "message_id": new_message_id(self.message_domain),
            "meta": self.meta or {},
        }


def enqueue_email(
    session: Session,
    workspace_id: int,
    *,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    headers: dict[str, str] | None = None,
    sender: str | None = None,
    message_domain: str = "feedback.invalid",
    dedupe_key: str | None = None,
    meta: dict[str, Any] | None = None,
    now: dt.datetime,
) -> OutboxMessage:
    """An email to send, added to the caller's transaction (sent only if it commits)."""
    email = Email(to, subject, text, html, headers, sender, message_domain, dedupe_key, meta)
    message = OutboxMessage(**_outbox_row(workspace_id, email, now))
    session.add(message)
    return message


def enqueue_emails(
    session: Session, workspace_id: int, emails: Sequence[Email], now: dt.datetime
) -> None:
    """Many emails in one statement, in the caller's transaction (for batches)."""
    if emails:
        # Core, not the ORM's bulk insert: no objects are wanted back.
        session.connection().execute(
            _INSERT_OUTBOX, [_outbox_row(workspace_id, email, now) for email in emails]
        )


_INSERT_OUTBOX = OutboxMessage.__table__.insert()


def _outbox_row(workspace_id: int, email: Email, now: dt.datetime) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id,
        "kind": "email",
        "payload": email.payload(),
        "dedupe_key": email.dedupe_key,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def _due(now: dt.datetime) -> Any:
    pending = (OutboxMessage.status == "pending") & (OutboxMessage.next_attempt_at <= now)
    # A claim whose lease ran out belongs to a worker that died mid-send.
    abandoned = (OutboxMessage.status == "sending") & (OutboxMessage.claimed_until < now)
    return or_(pending, abandoned)


def claim_due(
    session: Session, now: dt.datetime, *, limit: int = 50, lease: dt.timedelta = DEFAULT_LEASE
) -> list[int]:
    """Claim up to `limit` due messages for this worker; returns their ids.

    On PostgreSQL the candidates are locked with SKIP LOCKED, so concurrent
    workers take different messages without waiting; on every database the
    claiming UPDATE re-checks that the message is still due, so two workers
    never hold the same message at once. The caller commits.
    """
    candidates = list(
        session.scalars(
            select(OutboxMessage.id)
            .where(_due(now))
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not candidates:
        return []
    claimed = session.scalars(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(candidates), _due(now))
        .values(
            status="sending",
            claimed_until=now + lease,
            attempts=OutboxMessage.attempts + 1,
        )
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(claimed)


def record_sent(session: Session, message_ids: Sequence[int], now: dt.datetime) -> None:
    """These messages went out: sent now, no claim, no error; one statement for all."""
    table = OutboxMessage.__table__  # Core: the ORM's bulk-update machinery costs more here
    session.execute(
        update(table)
        .where(table.c.id.in_(message_ids))
        .values(status="sent", sent_at=now, claimed_until=None, last_error=None)
    )


def relax_commit_durability(session: Session) -> None:
    """On PostgreSQL, let this transaction's commit return before its WAL reaches disk.

    For recording that a message went out: should the database server crash
    within the next moment, the record is lost and the message is sent again,
    which at-least-once delivery allows. It spares a disk flush per email.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))


def mark_failed(
    message: OutboxMessage,
    error: str,
    now: dt.datetime,
    *,
    retry_base_seconds: int,
    max_attempts: int,
) -> None:
    """Schedule another try with exponential backoff, or give up after `max_attempts`."""
    message.last_error = error[:2000]
    message.claimed_until = None
    if message.attempts >= max_attempts:
        message.status = "failed"
        return
    message.status = "pending"
    delay = retry_base_seconds * 2 ** max(message.attempts - 1, 0)
    message.next_attempt_at = now + dt.timedelta(seconds=delay)


@dataclass(frozen=True)
class DeliveryOverview:
    """How a workspace's outbox stands: counts by status and the messages that gave up."""

    counts: dict[str, int]
    failed: list[OutboxMessage]
    retrying: list[OutboxMessage]


def delivery_overview(session: Session, workspace_id: int, *, limit: int = 50) -> DeliveryOverview:
    counts = dict.fromkeys(OUTBOX_STATUSES, 0)
    counts.update(
        session.execute(
            workspace_scoped(
                select(OutboxMessage.status, func.count(OutboxMessage.id)).group_by(
                    OutboxMessage.status
                ),
                workspace_id,
            )
        ).all()
    )

    def newest(*where: Any) -> list[OutboxMessage]:
        stmt = (
            select(OutboxMessage)
            .where(*where)
            .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
            .limit(limit)
        )
        return list(session.scalars(workspace_scoped(stmt, workspace_id)))

    return DeliveryOverview(
        counts=counts,
        failed=newest(OutboxMessage.status == "failed"),
        retrying=newest(OutboxMessage.status == "pending", OutboxMessage.attempts > 0),
    )


def retry_failed(session: Session, workspace_id: int, message_id: int, now: dt.datetime) -> bool:
    """A failed message goes back in the queue with fresh attempts; False if no such failure."""
    retried = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.workspace_id == workspace_id,
            OutboxMessage.id == message_id,
            OutboxMessage.status == "failed",
        )
        .values(status="pending", attempts=0, next_attempt_at=now, claimed_until=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    return retried == 1
