"""The survey invitation email, its reminder, and the unsubscribe link both carry.

Their links hold raw tokens, so the outbox drops their text once they are
sent or give up; an owner's Retry makes them again with a fresh link
(`remake_invitation_email`, `remake_reminder_email`).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import Literal, Protocol

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import String, cast, literal, select, update
from sqlalchemy.orm import Session

from feedback.accounts.models import Workspace
from feedback.db import rowcount
from feedback.delivery.emails import Email, compose
from feedback.delivery.models import OutboxMessage
from feedback.delivery.services import NotRetryable, enqueue_email, enqueue_emails
from feedback.journey.models import Stage
from feedback.surveys.models import Contact, Invitation
from feedback.surveys.services import IssuedInvitation, hash_token, new_token, survey_url


@functools.lru_cache(maxsize=4)
def _serializer(secret_key: str) -> URLSafeSerializer:
    # Cached: a batch signs a thousand tokens with the one key.
    return URLSafeSerializer(secret_key, salt="unsubscribe")


class ContactLike(Protocol):
    """A contact, as an ORM object or a plain (frozen) row: read only."""

    @property
    def id(self) -> int: ...
    @property
    def workspace_id(self) -> int: ...
    @property
    def email(self) -> str: ...
    @property
    def name(self) -> str | None: ...


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
    email = survey_email(
        "invitation",
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
            survey_email(
                "invitation",
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


# The survey email of a new invitation, or its one reminder: the same email, each
# with a link of its own.
SurveyEmail = Literal["invitation", "reminder"]


def survey_email(
    kind: SurveyEmail,
    workspace: Workspace,
    stage: Stage,
    contact: ContactLike,
    invitation_id: int,
    token: str,
    *,
    base_url: str,
    secret_key: str,
) -> Email:
    """The survey email (`kind` names its folder), with the link `token` opens.

    The raw token exists only now. Carries one-click unsubscribe; the
    Message-ID is fixed when it is queued, so a retried send is recognisably
    the same email.
    """
    unsubscribe = f"{base_url.rstrip('/')}/u/{unsubscribe_token(secret_key, contact)}"
    return compose(
        kind,
        to=contact.email,
        data={
            "workspace": workspace,
            "stage": stage,
            "contact": contact,
            "link": survey_url(base_url, token),
            "unsubscribe": unsubscribe,
            "scale": stage.rating_scale,
        },
        base_url=base_url,
        sent_as=workspace,
        unsubscribe=unsubscribe,
        dedupe_key=f"{kind}:{invitation_id}",
        meta={"invitation_id" if kind == "invitation" else "reminder_of": invitation_id},
        remake={"email": kind, "invitation_id": invitation_id},
    )


def queue_due_reminders(
    session: Session,
    now: dt.datetime,
    *,
    limit: int = 500,
    base_url: str | None = None,
    secret_key: str | None = None,
) -> int:
    """Queue the one reminder each unanswered survey email gets; returns how many.

    Due `reminder_days` after the email was sent (0 turns reminders off), never
    once the link has expired, been answered, or the customer unsubscribed. The
    reminder carries a link of its own (the first one's raw token is kept
    nowhere): its hash goes in `reminder_token_hash`, set by the same guarded
    UPDATE that claims the invitation, so several workers never remind twice.
    `base_url` and `secret_key` default to the app's.
    """
    base_url = base_url or current_app.config["BASE_URL"]
    secret_key = secret_key or current_app.config["SECRET_KEY"]
    original = OutboxMessage
    candidates = session.execute(
        select(Invitation, Workspace, Contact, Stage)
        .join(Workspace, Workspace.id == Invitation.workspace_id)
        .join(Contact, Contact.id == Invitation.contact_id)
        .join(Stage, Stage.id == Invitation.stage_id)
        # Only invitations that went out as this service's email get a reminder.
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
    for invitation, workspace, contact, stage in candidates:
        assert invitation.sent_at is not None
        if invitation.sent_at + dt.timedelta(days=workspace.reminder_days) > now:
            continue
        token = new_token()
        claimed = rowcount(
            session.execute(
                update(Invitation)
                .where(Invitation.id == invitation.id, Invitation.reminder_count == 0)
                .values(reminder_count=1, reminder_token_hash=hash_token(token))
                .execution_options(synchronize_session=False)
            )
        )
        if claimed != 1:
            continue
        email = survey_email(
            "reminder",
            workspace,
            stage,
            contact,
            invitation.id,
            token,
            base_url=base_url,
            secret_key=secret_key,
        )
        enqueue_email(session, workspace.id, **vars(email), now=now)
        queued += 1
    return queued


# --- Retry of an email that gave up (see delivery.services.REMAKERS) -------------------------


def _unanswered_invitation(
    session: Session, workspace_id: int, reference: dict[str, object], now: dt.datetime
) -> tuple[Invitation, Workspace, Contact, Stage]:
    """The invitation a failed email carried, if a new link to it is still wanted."""
    invitation_id = reference.get("invitation_id")
    row = None
    if isinstance(invitation_id, int) and not isinstance(invitation_id, bool):
        row = session.execute(
            select(Invitation, Workspace, Contact, Stage)
            .join(Workspace, Workspace.id == Invitation.workspace_id)
            .join(Contact, Contact.id == Invitation.contact_id)
            .join(Stage, Stage.id == Invitation.stage_id)
            .where(Invitation.workspace_id == workspace_id, Invitation.id == invitation_id)
        ).first()
    if row is None:
        raise NotRetryable("The survey this email carried no longer exists.")
    invitation, workspace, contact, stage = row
    if invitation.status == "answered":
        raise NotRetryable("The customer has answered this survey already.")
    if contact.unsubscribed_at is not None or invitation.status in ("unsubscribed", "throttled"):
        raise NotRetryable("The customer has unsubscribed from surveys.")
    if invitation.status == "expired" or invitation.expires_at <= now:
        raise NotRetryable("The survey link has expired, so there is nothing to send.")
    return invitation, workspace, contact, stage


def remake_invitation_email(
    session: Session,
    workspace_id: int,
    reference: dict[str, object],
    now: dt.datetime,
    *,
    base_url: str,
    secret_key: str,
) -> Email:
    """The survey email again, with a fresh link that replaces the first.

    The first never reached the customer (its email gave up), so its hash is
    overwritten: that link stops working, the new one answers the invitation.
    """
    invitation, workspace, contact, stage = _unanswered_invitation(
        session, workspace_id, reference, now
    )
    token = new_token()
    invitation.token_hash = hash_token(token)
    session.flush()
    return survey_email(
        "invitation",
        workspace,
        stage,
        contact,
        invitation.id,
        token,
        base_url=base_url,
        secret_key=secret_key,
    )


def remake_reminder_email(
    session: Session,
    workspace_id: int,
    reference: dict[str, object],
    now: dt.datetime,
    *,
    base_url: str,
    secret_key: str,
) -> Email:
    """The reminder again, with a fresh reminder link that replaces its first one."""
    invitation, workspace, contact, stage = _unanswered_invitation(
        session, workspace_id, reference, now
    )
    token = new_token()
    invitation.reminder_token_hash = hash_token(token)
    session.flush()
    return survey_email(
        "reminder",
        workspace,
        stage,
        contact,
        invitation.id,
        token,
        base_url=base_url,
        secret_key=secret_key,
    )
