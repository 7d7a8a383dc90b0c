"""Invitations (personal survey links) and the answers customers give through them."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from feedback import sentiment
from feedback.accounts.models import Workspace
from feedback.accounts.services import normalise_email
from feedback.db import insert_complete_row, workspace_scoped
from feedback.insights import services as rollup
from feedback.journey.models import Stage, Touchpoint
from feedback.journey.services import find_touchpoint
from feedback.surveys.models import COMMENT_MAX, DISPLAY_NAME_MAX, Contact, Invitation, Response
from feedback.testimonials.services import record_consent
from feedback.text import clean_text

TOKEN_BYTES = 32  # 256 bits of randomness


class SurveyError(Exception):
    """A survey link that cannot be answered; subclasses say why."""


class InvitationNotFound(SurveyError):
    pass


class InvitationExpired(SurveyError):
    pass


class AlreadyAnswered(SurveyError):
    pass


class InvalidAnswer(ValueError):
    """An answer that breaks a rule; `field` names the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class InvalidInvitation(ValueError):
    """An invitation request that cannot be carried out; the message says why."""


@dataclass(frozen=True)
class IssuedInvitation:
    """A new invitation and its raw token, which exists only here and in the link."""

    invitation: Invitation
    token: str


@dataclass(frozen=True)
class Answer:
    """What a customer submitted, before rules are applied."""

    rating: int
    comment: str | None = None
    testimonial_opt_in: bool = False
    display_name: str | None = None


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def survey_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/s/{token}"


def find_or_create_contact(
    session: Session,
    workspace_id: int,
    email: str,
    name: str | None = None,
    external_id: str | None = None,
) -> Contact:
    """The workspace's contact with this email, created or updated with the name given."""
    email = normalise_email(email)
    local, _, domain = email.partition("@")
    if not local or "." not in domain or len(email) > 254 or any(c.isspace() for c in email):
        raise InvalidInvitation(f"{email!r} is not a valid email address.")
    contact = session.scalar(
        workspace_scoped(select(Contact).where(Contact.email == email), workspace_id)
    )
    name = clean_text(name, multiline=False)
    if contact is None:
        contact = Contact(
            workspace_id=workspace_id,
            email=email,
            name=name and name[:120],
            external_id=external_id,
        )
        session.add(contact)
        session.flush()
    else:
        if name:
            contact.name = name[:120]
        if external_id:
            contact.external_id = external_id
    return contact


def invite(
    session: Session,
    workspace: Workspace,
    *,
    stage_key: str,
    touchpoint_key: str,
    email: str,
    name: str | None = None,
    now: dt.datetime,
    event_id: str | None = None,
    occurred_at: dt.datetime | None = None,
) -> IssuedInvitation:
    """A new personal survey link for the stage, queued for delivery.

    Raises UnknownStage / UnknownTouchpoint for keys the workspace does not have.
    """
    touchpoint = find_touchpoint(session, workspace.id, stage_key, touchpoint_key)
    contact = find_or_create_contact(session, workspace.id, email, name)
    token = new_token()
    invitation = Invitation(
        workspace_id=workspace.id,
        contact_id=contact.id,
        stage_id=touchpoint.stage_id,
        touchpoint_id=touchpoint.id,
        token_hash=hash_token(token),
        event_id=event_id,
        status="queued",
        occurred_at=occurred_at,
        created_at=now,
        expires_at=now + dt.timedelta(days=workspace.invitation_ttl_days),
    )
    session.add(invitation)
    session.flush()
    return IssuedInvitation(invitation=invitation, token=token)


def mark_sent(
    session: Session, workspace: Workspace, invitation: Invitation, now: dt.datetime
) -> None:
    """The link has been handed to the customer (by email, or printed for the owner)."""
    if invitation.status != "queued":
        return
    invitation.status = "sent"
    invitation.sent_at = now
    session.flush()
    rollup.record_invitation_sent(session, invitation, workspace.timezone)


def invitation_for_token(session: Session, token: str) -> Invitation:
    """The invitation behind a raw token, with its stage, touchpoint and workspace's data."""
    if not token or len(token) > 100:
        raise InvitationNotFound(token)
    row = session.execute(_INVITATION_BY_TOKEN, {"token_hash": hash_token(token)}).first()
    if row is None:
        raise InvitationNotFound(token)
    invitation, stage, touchpoint, workspace = row
    # The three parents came in the same row: hand them to the relationships.
    set_committed_value(invitation, "stage", stage)
    set_committed_value(invitation, "touchpoint", touchpoint)
    set_committed_value(invitation, "workspace", workspace)
    return invitation


_INVITATION_BY_TOKEN = (
    select(Invitation, Stage, Touchpoint, Workspace)
    .join(Stage, Stage.id == Invitation.stage_id)
    .join(Touchpoint, Touchpoint.id == Invitation.touchpoint_id)
    .join(Workspace, Workspace.id == Invitation.workspace_id)
    .where(Invitation.token_hash == bindparam("token_hash"))
)


def check_answerable(invitation: Invitation, now: dt.datetime) -> None:
    """Raise AlreadyAnswered or InvitationExpired unless the link can still be answered."""
    if invitation.status == "answered":
        raise AlreadyAnswered(invitation.id)
    if invitation.is_expired(now):
        raise InvitationExpired(invitation.id)


def open_invitation(invitation: Invitation, now: dt.datetime) -> None:
    """Mark the invitation opened the first time; raise if it can no longer be answered.

    An invitation found past its expiry is marked expired on the way.
    """
    try:
        check_answerable(invitation, now)
    except InvitationExpired:
        if invitation.status != "expired":
            invitation.status = "expired"
        raise
    if invitation.status in ("queued", "sent"):
        invitation.status = "opened"
        invitation.opened_at = now


def validated_answer(stage: Stage, answer: Answer) -> Answer:
    """The answer with its text cleaned, or InvalidAnswer naming the field at fault."""
    scale = stage.rating_scale
    if answer.rating not in scale.values:
        raise InvalidAnswer("rating", f"Please choose a rating from {scale.low} to {scale.high}.")
    comment = clean_text(answer.comment, multiline=True)
    if comment is not None and len(comment) > COMMENT_MAX:
        raise InvalidAnswer(
            "comment",
            f"Please keep your comment under {COMMENT_MAX:,} characters (it has {len(comment):,}).",
        )
    # The name is only used with the opt-in; without it, it is dropped unread.
    display_name = (
        clean_text(answer.display_name, multiline=False) if answer.testimonial_opt_in else None
    )
    if display_name is not None and len(display_name) > DISPLAY_NAME_MAX:
        raise InvalidAnswer(
            "display_name", f"Please keep the name under {DISPLAY_NAME_MAX} characters."
        )
    return Answer(
        rating=answer.rating,
        comment=comment,
        testimonial_opt_in=answer.testimonial_opt_in,
        display_name=display_name,
    )


def submit_response(
    session: Session,
    workspace: Workspace,
    invitation: Invitation,
    answer: Answer,
    now: dt.datetime,
) -> Response:
    """Store a customer's answer to their invitation, with its sentiment and rollup.

    Raises InvalidAnswer, AlreadyAnswered or InvitationExpired. A second submit
    of the same link, even at the same moment from another process, finds the
    invitation already claimed and raises AlreadyAnswered; the unique
    constraint on the response's invitation backs that up.
    """
    check_answerable(invitation, now)
    stage = invitation.stage
    answer = validated_answer(stage, answer)
    # Everything is computed before the first write: on SQLite the write lock
    # is held from the first write to the commit.
    response = new_response(
        workspace,
        stage,
        invitation.touchpoint,
        answer,
        now,
        invitation=invitation,
        contact_id=invitation.contact_id,
    )
    counters = rollup.response_counters(response, stage.scale)
    day = rollup.local_day(now, workspace.timezone)

    connection = session.connection()
    claimed = connection.execute(
        _CLAIM_INVITATION, {"invitation_id": invitation.id, "answered_now": now}
    ).rowcount
    if claimed != 1:
        raise AlreadyAnswered(invitation.id)
    set_committed_value(invitation, "status", "answered")
    set_committed_value(invitation, "answered_at", now)
    try:
        insert_complete_row(session, response)
    except IntegrityError as error:
        raise AlreadyAnswered(invitation.id) from error
    if answer.testimonial_opt_in:
        record_consent(session, workspace, response, answer.display_name, now)
    # Last, so the lock on today's shared rollup row is held as briefly as possible.
    rollup.bump_rollup(
        session,
        workspace_id=workspace.id,
        stage_id=stage.id,
        touchpoint_id=response.touchpoint_id,
        day=day,
        counters=counters,
    )
    return response


_invitations = Invitation.__table__
# Moves the invitation to answered only if nothing else did first.
_CLAIM_INVITATION = (
    update(_invitations)
    .where(_invitations.c.id == bindparam("invitation_id"), _invitations.c.status != "answered")
    .values(status="answered", answered_at=bindparam("answered_now"))
)


def new_response(
    workspace: Workspace,
    stage: Stage,
    touchpoint: Touchpoint,
    answer: Answer,
    now: dt.datetime,
    *,
    invitation: Invitation | None = None,
    contact_id: int | None = None,
) -> Response:
    """A (not yet stored) response for a validated answer, scored, its follow-up opened if unhappy.

    Every column but the id is set, so the row can be inserted as it is.
    """
    response = Response(
        workspace_id=workspace.id,
        invitation_id=invitation.id if invitation else None,
        stage_id=stage.id,
        touchpoint_id=touchpoint.id,
        contact_id=contact_id,
        rating=answer.rating,
        comment=answer.comment,
        testimonial_opt_in=answer.testimonial_opt_in,
        submitted_at=now,
        follow_up_state="none",
        follow_up_due_at=None,
        assignee_id=None,
        resolved_at=None,
        resolution_note=None,
    )
    apply_sentiment(response, sentiment.score(answer.comment) if answer.comment else None)
    if rollup.is_unhappy(response, stage.scale):
        response.follow_up_state = "open"
        response.follow_up_due_at = now + dt.timedelta(hours=workspace.follow_up_sla_hours)
    return response


def response_for_invitation(session: Session, invitation: Invitation) -> Response | None:
    return session.scalar(
        workspace_scoped(
            select(Response).where(Response.invitation_id == invitation.id),
            invitation.workspace_id,
        )
    )


def apply_sentiment(response: Response, score: sentiment.Sentiment | None) -> None:
    """Set (or, for None, clear) the response's sentiment columns."""
    response.sentiment_compound = score.compound if score else None
    response.sentiment_pos = score.pos if score else None
    response.sentiment_neu = score.neu if score else None
    response.sentiment_neg = score.neg if score else None
    response.sentiment_label = score.label if score else None
    response.sentiment_version = score.version if score else None


def rescore_responses(session: Session, *, everything: bool = False) -> dict[int, int]:
    """Score again every comment scored by another analyzer version (or all of them).

    Returns how many responses changed per workspace id; the rollups of those
    workspaces must then be rebuilt.
    """
    stmt = select(Response.id).where(Response.comment.is_not(None)).order_by(Response.id)
    if not everything:
        stmt = stmt.where(Response.sentiment_version.is_distinct_from(sentiment.analyzer_version()))
    ids = list(session.scalars(stmt))
    changed: dict[int, int] = {}
    for start in range(0, len(ids), 1000):
        batch = session.scalars(select(Response).where(Response.id.in_(ids[start : start + 1000])))
        for response in batch:
            assert response.comment is not None
            apply_sentiment(response, sentiment.score(response.comment))
            changed[response.workspace_id] = changed.get(response.workspace_id, 0) + 1
        session.flush()
    return changed
