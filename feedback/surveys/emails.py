"""The survey invitation email and the unsubscribe link it carries."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import Protocol
from urllib.parse import urlsplit

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import String, cast, literal, select, update
from sqlalchemy.orm import Session

from feedback.accounts.models import Workspace
from feedback.delivery.addresses import sender
from feedback.delivery.models import OutboxMessage
from feedback.delivery.services import (
    Email,
    SealBroken,
    Sealer,
    enqueue_email,
    enqueue_emails,
    opened_payload,
)
from feedback.journey.models import Stage
from feedback.surveys.models import Contact, Invitation
from feedback.surveys.services import IssuedInvitation, survey_url


@functools.lru_cache(maxsize=4)
def _serializer(secret_key: str) -> URLSafeSerializer:
    # Cached: a batch signs a thousand tokens with the one key.
    return URLSafeSerializer(secret_key, salt="unsubscribe")


class ContactLike(Protocol):
    """A contact, as an ORM object or a plain row."""

    id: int
    workspace_id: int
    email: str
    name: str | None


def unsubscribe_token(secret_key: str, contact: ContactLike) -> str:
    """A stable, signed token naming the contact; nothing needs storing for it."""
    return _serializer(secret_key).dumps([contact.workspace_id, contact.id])


def contact_for_unsubscribe_token(session: Session, secret_key: str, token: str) -> Contact | None:
    """The contact a genuine unsubscribe token names, or None for anything else."""
    if len(token) > 200:
        return None
    try:
        workspace_id, contact_id = _serializer(secret_key).loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    contact = session.get(Contact, contact_id)
    if contact is None or contact.workspace_id != workspace_id:
        return None
    return contact


def queue_invitation_email(
    session: Session,
    workspace: Workspace,
    issued: IssuedInvitation,
    *,
    base_url: str,
    secret_key: str,
    now: dt.datetime,
) -> OutboxMessage:
    """The invitation's email, added to the outbox in the caller's transaction."""
    contact = session.get(Contact, issued.invitation.contact_id)
    stage = session.get(Stage, issued.invitation.stage_id)
    assert contact is not None and stage is not None
    email = invitation_email(
        workspace,
        stage,
        contact,
        issued.invitation.id,
        issued.token,
        base_url=base_url,
        secret_key=secret_key,
    )
    return enqueue_email(session, workspace.id, **vars(email), now=now)


def queue_invitation_emails(
    session: Session,
    workspace: Workspace,
    issued: Sequence[tuple[int, str, Stage, ContactLike]],
    *,
    base_url: str,
    secret_key: str,
    now: dt.datetime,
) -> None:
    """Many invitations' emails in one statement: (invitation id, token, stage, contact) each."""
    enqueue_emails(
        session,
        workspace.id,
        [
            invitation_email(
                workspace,
                stage,
                contact,
                invitation_id,
                token,
                base_url=base_url,
                secret_key=secret_key,
            )
            for invitation_id, token, stage, contact in issued
        ],
        now,
    )


def invitation_email(
    workspace: Workspace,
    stage: Stage,
    contact: ContactLike,
    invitation_id: int,
    token: str,
    *,
    base_url: str,
    secret_key: str,
) -> Email:
    """The survey email of a new invitation (the raw token exists only now).

    Carries List-Unsubscribe and List-Unsubscribe-Post (RFC 8058) so mail
    clients can offer one-click unsubscribe; the Message-ID is fixed when it
    is queued, so a retried send is recognisably the same email.
    """
    link = survey_url(base_url, token)
    unsubscribe = f"{base_url.rstrip('/')}/u/{unsubscribe_token(secret_key, contact)}"
    context = {
        "workspace": workspace,
        "stage": stage,
        "contact": contact,
        "link": link,
        "unsubscribe": unsubscribe,
        "scale": stage.rating_scale,
    }
    return Email(
        to=contact.email,
        subject=f"{workspace.name}: {stage.question}"[:200],
        # The templates alone, without the request context processors: no
        # request is involved, and a batch renders thousands.
        text=current_app.jinja_env.get_template("surveys/invitation_email.txt").render(context),
        html=current_app.jinja_env.get_template("surveys/invitation_email.html").render(context),
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        sender=sender(workspace.sender_name, workspace.sender_address, workspace.name),
        message_domain=urlsplit(base_url).hostname or "feedback.invalid",
        dedupe_key=f"invitation:{invitation_id}",
        meta={"invitation_id": invitation_id},
    )


def queue_due_reminders(
    session: Session, now: dt.datetime, *, limit: int = 500, sealer: Sealer | None = None
) -> int:
    """Queue the one reminder each unanswered survey email gets; returns how many.

    Due `reminder_days` after the email was sent (0 turns reminders off), never
    once the link has expired, been answered, or the customer unsubscribed. The
    reminder repeats the original email (the raw link exists nowhere else) with
    a new Message-ID. The invitation is claimed with a guarded UPDATE first, so
    several workers never remind twice.
    """
    sealer = sealer or Sealer(current_app.config["SECRET_KEY"])
    original = OutboxMessage
    candidates = session.execute(
        select(Invitation, Workspace, original)
        .join(Workspace, Workspace.id == Invitation.workspace_id)
        .join(Contact, Contact.id == Invitation.contact_id)
        .join(
            original,
            (original.workspace_id == Invitation.workspace_id)
            & (original.dedupe_key == literal("invitation:") + cast(Invitation.id, String)),
        )
        .where(
            Invitation.status.in_(("sent", "opened")),
            Invitation.reminder_count == 0,
            Invitation.sent_at <= now - dt.timedelta(days=1),
            Invitation.expires_at > now,
            Contact.unsubscribed_at.is_(None),
            Workspace.reminder_days > 0,
        )
        .order_by(Invitation.sent_at)
        .limit(limit)
    ).all()
    queued = 0
    for invitation, workspace, message in candidates:
        assert invitation.sent_at is not None
        if invitation.sent_at + dt.timedelta(days=workspace.reminder_days) > now:
            continue
        claimed = session.execute(
            update(Invitation)
            .where(Invitation.id == invitation.id, Invitation.reminder_count == 0)
            .values(reminder_count=1)
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            continue
        try:
            # A sent email's bodies rest sealed (delivery.services.Sealer).
            payload = opened_payload(message.payload, sealer)
        except SealBroken:
            continue  # sealed under another SECRET_KEY: this one gets no reminder
        domain = payload["message_id"].rsplit("@", 1)[-1].rstrip(">")
        enqueue_email(
            session,
            workspace.id,
            to=payload["to"],
            subject=f"Reminder: {payload['subject']}"[:200],
            text=payload["text"],
            html=payload.get("html"),
            headers=payload.get("headers"),
            sender=payload.get("from"),
            message_domain=domain,
            dedupe_key=f"reminder:{invitation.id}",
            meta={"reminder_of": invitation.id},
            now=now,
        )
        queued += 1
    return queued
