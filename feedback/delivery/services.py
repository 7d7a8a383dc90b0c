"""Outbox: enqueue in the caller's transaction; claim, send, retry with backoff."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import bindparam, func, or_, select, text, update
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


def _due(now: dt.datetime, kind: str | None) -> Any:
    pending = (OutboxMessage.status == "pending") & (OutboxMessage.next_attempt_at <= now)
    # A claim whose lease ran out belongs to a worker that died mid-send.
    abandoned = (OutboxMessage.status == "sending") & (OutboxMessage.claimed_until < now)
    due = or_(pending, abandoned)
    return due if kind is None else due & (OutboxMessage.kind == kind)


def claim_due(
    session: Session,
    now: dt.datetime,
    *,
    limit: int = 50,
    lease: dt.timedelta = DEFAULT_LEASE,
    kind: str | None = None,
) -> list[int]:
    """Claim up to `limit` due messages (of `kind`, or any) for this worker; returns their ids.

    On PostgreSQL the candidates are locked with SKIP LOCKED, so concurrent
    workers take different messages without waiting; on every database the
    claiming UPDATE re-checks that the message is still due, so two workers
    never hold the same message at once. The caller commits.
    """
    candidates = list(
        session.scalars(
            select(OutboxMessage.id)
            .where(_due(now, kind))
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not candidates:
        return []
    claimed = session.scalars(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(candidates), _due(now, kind))
        .values(
            status="sending",
            claimed_until=now + lease,
            attempts=OutboxMessage.attempts + 1,
        )
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(claimed)


# The parts of an email payload that carry links with raw tokens (survey,
# consent, password-set and unsubscribe links): the bodies and the extra
# headers (List-Unsubscribe). A webhook's body carries none, but it carries
# the customer's comment, which nothing needs once it was delivered.
LINK_BEARING = ("text", "html", "headers")


class Sealer:
    """Encrypts what must outlive a send but must not rest in clear: Fernet
    (AES-128-CBC + HMAC-SHA256) with a key derived from SECRET_KEY.

    Once an email is sent (or has given up), its bodies are kept only sealed:
    the database alone, a backup or a dump, then holds no usable link. The
    worker opens them again for the reminder, which repeats the original link,
    and for an owner's Retry of a failed email.
    """

    def __init__(self, secret_key: str) -> None:
        derived = hmac.new(secret_key.encode(), b"feedback outbox seal v1", hashlib.sha256)
        self._fernet = Fernet(base64.urlsafe_b64encode(derived.digest()))

    def seal(self, parts: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(parts).encode()).decode("ascii")

    def open(self, sealed: str) -> dict[str, Any]:
        """The parts; SealBroken for another key's seal (SECRET_KEY changed) or a damaged one."""
        try:
            parts = json.loads(self._fernet.decrypt(sealed.encode("ascii")))
        except (InvalidToken, ValueError, UnicodeError) as error:
            raise SealBroken(
                "the sealed email cannot be opened (was SECRET_KEY changed?)"
            ) from error
        if not isinstance(parts, dict):
            raise SealBroken("the sealed email is damaged")
        return parts


class SealBroken(ValueError):
    """A sealed payload that this key cannot open."""


def sealed_payload(payload: dict[str, Any], kind: str, sealer: Sealer | None) -> dict[str, Any]:
    """What stays of a payload once its message is sent or failed: no raw link in clear.

    Emails keep recipient, subject, sender, Message-ID and meta in clear (the
    delivery page and the reminder read them), their bodies sealed if a
    sealer is given and dropped otherwise. Webhooks drop their body.
    """
    if payload.get("sealed") or payload.get("scrubbed"):
        return payload
    if kind == "webhook":
        return {k: v for k, v in payload.items() if k != "body"} | {"scrubbed": True}
    kept = {k: v for k, v in payload.items() if k not in LINK_BEARING}
    parts = {k: payload[k] for k in LINK_BEARING if k in payload}
    if sealer is None:
        return kept | {"scrubbed": True}
    return kept | {"sealed": sealer.seal(parts)}


def opened_payload(payload: dict[str, Any], sealer: Sealer | None) -> dict[str, Any]:
    """The payload with its sealed parts back in clear (as it was queued).

    SealBroken if they were sealed with another key, or dropped.
    """
    if payload.get("scrubbed"):
        raise SealBroken("the email's text was removed after it was sent")
    if not payload.get("sealed"):
        return payload
    if sealer is None:
        raise SealBroken("the email's text is sealed and no key was given")
    rest = {k: v for k, v in payload.items() if k != "sealed"}
    return rest | sealer.open(str(payload["sealed"]))


def record_sent(
    session: Session,
    message_ids: Sequence[int],
    now: dt.datetime,
    *,
    payloads: dict[int, dict[str, Any]] | None = None,
) -> None:
    """These messages went out: sent now, no claim, no error; one statement for all.

    `payloads` (by message id) replace the stored ones, e.g. with the link-bearing
    parts sealed (`sealed_payload`).
    """
    table = OutboxMessage.__table__  # Core: the ORM's bulk-update machinery costs more here
    sent = {"status": "sent", "sent_at": now, "claimed_until": None, "last_error": None}
    if not payloads:
        session.execute(update(table).where(table.c.id.in_(message_ids)).values(**sent))
        return
    # One executemany: each row gets its own payload.
    session.connection().execute(
        update(table)
        .where(table.c.id == bindparam("message_id"))
        .values(payload=bindparam("new_payload"), **sent),
        [
            {"message_id": message_id, "new_payload": payloads[message_id]}
            for message_id in message_ids
        ],
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
    permanent: bool = False,
    sealer: Sealer | None = None,
) -> None:
    """Schedule another try with exponential backoff, or give up after `max_attempts`
    (at once when `permanent`: trying again cannot help).

    A message that gives up keeps its links only sealed (`sealed_payload`).
    """
    message.last_error = error[:2000]
    message.claimed_until = None
    if permanent or message.attempts >= max_attempts:
        message.status = "failed"
        # A webhook's body holds no link, and a Retry needs it: only emails are sealed.
        if message.kind == "email" and isinstance(message.payload, dict):
            message.payload = sealed_payload(message.payload, message.kind, sealer)
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


class NotRetryable(ValueError):
    """A failed message that cannot be sent again; the message says why."""


def retry_failed(session: Session, workspace_id: int, message_id: int, now: dt.datetime) -> bool:
    """A failed message goes back in the queue with fresh attempts; False if no such failure.

    Its sealed text stays sealed until the worker sends it. NotRetryable for a
    webhook call whose body was dropped, or an email whose text was (both
    only happen to messages from before sealing, or that are not failed).
    """
    message = session.scalar(
        select(OutboxMessage).where(
            OutboxMessage.workspace_id == workspace_id,
            OutboxMessage.id == message_id,
            OutboxMessage.status == "failed",
        )
    )
    if message is None:
        return False
    if isinstance(message.payload, dict) and message.payload.get("scrubbed"):
        raise NotRetryable("Its content was removed after it gave up, so it cannot be sent again.")
    retried = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id, OutboxMessage.status == "failed")
        .values(status="pending", attempts=0, next_attempt_at=now, claimed_until=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    return retried == 1
