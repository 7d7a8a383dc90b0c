"""Outbox: enqueue in the caller's transaction; claim, send, retry with backoff."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import bindparam, delete, func, or_, select, text, update
from sqlalchemy.orm import Session
from werkzeug.utils import import_string

from feedback.db import rowcount, workspace_scoped
from feedback.delivery.emails import Email, compose
from feedback.delivery.models import OUTBOX_STATUSES, OutboxMessage, WorkerHeartbeat

DEFAULT_LEASE = dt.timedelta(minutes=5)


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
    links: bool = True,
    remake: dict[str, Any] | None = None,
    now: dt.datetime,
) -> OutboxMessage:
    """An email to send, added to the caller's transaction (sent only if it commits)."""
    email = Email(
        to, subject, text, html, headers, sender, message_domain, dedupe_key, meta, links, remake
    )
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


# The parts of an email payload that may carry links with raw tokens (survey,
# consent, password-set and unsubscribe links): the bodies and the extra
# headers (List-Unsubscribe). The database keeps only a token's SHA-256, so
# once an email is sent (or has given up) these parts are dropped, not kept
# in any form: nothing at rest, in a backup or a dump, opens a link.
LINK_BEARING = ("text", "html", "headers")


def stripped_payload(payload: dict[str, Any], kind: str, *, failed: bool) -> dict[str, Any]:
    """What stays of a payload once its message is sent (`failed=False`) or has given up.

    Emails keep recipient, subject, sender, Message-ID, meta and their remake
    reference (the delivery page shows them; a Retry re-makes from the
    reference). Their bodies go, except a failed email that declared it
    carries no link (`links: False`): it keeps them so a Retry can send it
    as it was. A delivered webhook call drops its body (the customer's
    comment, which nothing needs once delivered); a failed one keeps it for
    a Retry (it holds no link).
    """
    if kind == "webhook":
        return payload if failed else {k: v for k, v in payload.items() if k != "body"}
    if failed and payload.get("links") is False:
        return payload
    return {k: v for k, v in payload.items() if k not in LINK_BEARING}


def record_sent(
    session: Session,
    message_ids: Sequence[int],
    now: dt.datetime,
    *,
    payloads: dict[int, dict[str, Any]] | None = None,
) -> None:
    """These messages went out: sent now, no claim, no error; one statement for all.

    `payloads` (by message id) replace the stored ones, e.g. without their
    link-bearing parts (`stripped_payload`).
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
) -> None:
    """Schedule another try with exponential backoff, or give up after `max_attempts`
    (at once when `permanent`: trying again cannot help).

    An email that gives up loses its link-bearing parts (`stripped_payload`).
    """
    message.last_error = error[:2000]
    message.claimed_until = None
    if permanent or message.attempts >= max_attempts:
        message.status = "failed"
        if isinstance(message.payload, dict):
            message.payload = stripped_payload(message.payload, message.kind, failed=True)
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


# A worker that has not written its heartbeat for this long is taken for stopped:
# a working one writes every few seconds (`HEARTBEAT_EVERY`), even when idle.
WORKER_STALE_AFTER = dt.timedelta(minutes=2)
HEARTBEAT_EVERY = dt.timedelta(seconds=5)
# Rows of workers silent this long are deleted by the live ones.
HEARTBEAT_KEPT = dt.timedelta(days=7)


def record_heartbeat(
    session: Session,
    name: str,
    now: dt.datetime,
    *,
    started_at: dt.datetime,
    messages_sent: int,
    messages_failed: int,
    last_sent_at: dt.datetime | None,
) -> None:
    """Upsert this worker's row (its name is unique, and only it writes the row) and
    prune the rows of workers long gone, in the caller's transaction."""
    heartbeat = session.scalar(select(WorkerHeartbeat).where(WorkerHeartbeat.name == name))
    if heartbeat is None:
        heartbeat = WorkerHeartbeat(name=name, started_at=started_at)
        session.add(heartbeat)
    heartbeat.last_seen_at = now
    heartbeat.messages_sent = messages_sent
    heartbeat.messages_failed = messages_failed
    heartbeat.last_sent_at = last_sent_at
    session.execute(
        delete(WorkerHeartbeat).where(WorkerHeartbeat.last_seen_at < now - HEARTBEAT_KEPT)
    )


@dataclass(frozen=True)
class WorkerStatus:
    """Whether any worker is sending, and how long this workspace's queue has waited."""

    # The newest heartbeat of any worker; None when none was ever seen (or kept).
    last_seen_at: dt.datetime | None
    running: bool
    # When the oldest message still waiting to go out was queued.
    oldest_waiting_at: dt.datetime | None

    def oldest_waited(self, now: dt.datetime) -> dt.timedelta | None:
        return None if self.oldest_waiting_at is None else now - self.oldest_waiting_at


def worker_status(session: Session, workspace_id: int, now: dt.datetime) -> WorkerStatus:
    last_seen_at = session.scalar(select(func.max(WorkerHeartbeat.last_seen_at)))
    oldest_waiting_at = session.scalar(
        workspace_scoped(
            select(func.min(OutboxMessage.created_at)).where(
                OutboxMessage.status.in_(("pending", "sending"))
            ),
            workspace_id,
        )
    )
    # func.min/max bypass the column type on SQLite: make the value aware UTC.
    last_seen_at, oldest_waiting_at = (
        _as_utc(value) for value in (last_seen_at, oldest_waiting_at)
    )
    return WorkerStatus(
        last_seen_at=last_seen_at,
        running=last_seen_at is not None and now - last_seen_at <= WORKER_STALE_AFTER,
        oldest_waiting_at=oldest_waiting_at,
    )


def _as_utc(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite hands back text for an aggregate
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def queue_test_email(
    session: Session, workspace_id: int, to: str, workspace_name: str, now: dt.datetime
) -> OutboxMessage:
    """An email to the owner's own address through the normal outbox, to prove delivery."""
    email = compose(
        "test",
        to=to,
        data={"workspace_name": workspace_name},
        base_url=None,
        # Nothing secret in it: a Retry after it gave up sends it as it was.
        links=False,
    )
    return enqueue_email(session, workspace_id, **vars(email), now=now)


class NotRetryable(ValueError):
    """A failed message that cannot be sent again; the message says why."""


# A link-bearing email that gave up is made again for a Retry by the package
# that owns it, with a fresh link: payload["remake"]["email"] names the maker
# here. Dotted paths, imported when needed, so delivery (which the others
# build on) imports none of them. A maker is called as
# maker(session, workspace_id, reference, now, base_url=..., secret_key=...)
# and returns the new Email, or raises NotRetryable saying why not.
REMAKERS: dict[str, str] = {
    "invitation": "feedback.surveys.emails:remake_invitation_email",
    "reminder": "feedback.surveys.emails:remake_reminder_email",
    "consent-confirmation": "feedback.testimonials.consent:remake_confirmation_email",
    "consent-reconfirmation": "feedback.testimonials.consent:remake_reconfirmation_email",
}

# Emails that carried a link and have no maker: today only the password emails
# (a new member's invitation, a reset), whose links expire within hours or days.
NO_REMAKE = (
    "This email held a password link that has expired; send the invitation again "
    "from the team page, or the person can reset their password from the login page."
)


class Remaker(Protocol):
    def __call__(
        self,
        session: Session,
        workspace_id: int,
        reference: dict[str, Any],
        now: dt.datetime,
        *,
        base_url: str,
        secret_key: str,
    ) -> Email: ...


def remade_payload(
    session: Session,
    workspace_id: int,
    payload: dict[str, Any],
    now: dt.datetime,
    *,
    base_url: str,
    secret_key: str,
) -> dict[str, Any]:
    """A failed email's payload ready to send again: as it was if it kept its
    bodies, made again with a fresh link if it names a maker; NotRetryable otherwise."""
    if "text" in payload:
        return payload
    reference = payload.get("remake")
    if not isinstance(reference, dict) or reference.get("email") not in REMAKERS:
        raise NotRetryable(NO_REMAKE)
    maker: Remaker = import_string(REMAKERS[reference["email"]])
    email = maker(session, workspace_id, reference, now, base_url=base_url, secret_key=secret_key)
    remade = email.payload()
    # The old Message-ID never reached anyone: keep it, so the row stays recognisable.
    if isinstance(payload.get("message_id"), str):
        remade["message_id"] = payload["message_id"]
    return remade


def retry_failed(
    session: Session,
    workspace_id: int,
    message_id: int,
    now: dt.datetime,
    *,
    base_url: str,
    secret_key: str,
) -> bool:
    """A failed message goes back in the queue with fresh attempts; False if no such failure.

    An email that gave up without its bodies (they held a link) is made again
    first, with a fresh link, by the package it belongs to (`REMAKERS`).
    NotRetryable, with the reason, for one that cannot be (a password email,
    an answered survey, a withdrawn consent).
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
    values: dict[str, Any] = {}
    if message.kind == "email":
        if not isinstance(message.payload, dict):
            raise NotRetryable("It is not an email this service can send.")
        remade = remade_payload(
            session, workspace_id, message.payload, now, base_url=base_url, secret_key=secret_key
        )
        if remade is not message.payload:
            values["payload"] = remade
    retried = rowcount(
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message.id, OutboxMessage.status == "failed")
            .values(status="pending", attempts=0, next_attempt_at=now, claimed_until=None, **values)
            .execution_options(synchronize_session=False)
        )
    )
    return retried == 1
