"""Invitations (personal survey links) and the answers customers give through them."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Row, Select, bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, contains_eager
from sqlalchemy.orm.attributes import set_committed_value

from feedback import sentiment
from feedback.accounts.models import Workspace
from feedback.accounts.services import is_email_address, normalise_email
from feedback.db import insert_complete_row, workspace_scoped
from feedback.journey.models import OPEN_LINK_TOUCHPOINT, Stage, Touchpoint
from feedback.journey.scales import is_mismatch
from feedback.journey.services import find_touchpoint
from feedback.surveys.models import (
    CHANNELS,
    COMMENT_MAX,
    DISPLAY_NAME_MAX,
    ROLE_MAX,
    Contact,
    Invitation,
    Response,
)
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
    # Optional role or company shown with the name, e.g. "Owner, Fern & Co".
    display_role: str | None = None
    # Channels ticked beyond the website, which every opt-in includes.
    channels: tuple[str, ...] = ()


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def survey_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/s/{token}"


def valid_email(email: str) -> str:
    """The address normalised, or InvalidInvitation when it cannot be an email address."""
    email = normalise_email(email)
    if not is_email_address(email):
        raise InvalidInvitation(f"{email!r} is not a valid email address.")
    return email


def find_or_create_contact(
    session: Session,
    workspace_id: int,
    email: str,
    name: str | None = None,
    external_id: str | None = None,
) -> Contact:
    """The workspace's contact with this email, created or updated with the name given."""
    email = valid_email(email)
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
    throttle: bool = True,
) -> IssuedInvitation:
    """A new personal survey link for the stage, queued for delivery.

    Its status follows `new_invitation_status` (pass `throttle=False` to
    record past events, which then ignore earlier asks).
    Raises UnknownStage / UnknownTouchpoint for keys the workspace does not have.
    """
    touchpoint = find_touchpoint(session, workspace.id, stage_key, touchpoint_key)
    contact = find_or_create_contact(session, workspace.id, email, name)
    token = new_token()
    asks = (
        recent_asks(session, workspace, [contact.id], now).get(contact.id, []) if throttle else []
    )
    status = new_invitation_status(
        workspace,
        unsubscribed=contact.unsubscribed_at is not None,
        asks=asks,
        stage_id=touchpoint.stage_id,
        now=now,
    )
    invitation = Invitation(
        workspace_id=workspace.id,
        contact_id=contact.id,
        stage_id=touchpoint.stage_id,
        touchpoint_id=touchpoint.id,
        token_hash=hash_token(token),
        event_id=event_id,
        status=status,
        occurred_at=occurred_at,
        created_at=now,
        expires_at=now + dt.timedelta(days=workspace.invitation_ttl_days),
    )
    session.add(invitation)
    session.flush()
    return IssuedInvitation(invitation=invitation, token=token)


# Invitations that went, or are about to go, to the customer.
_ASKED = ("queued", "sent", "opened", "answered", "expired")


def recent_asks(
    session: Session, workspace: Workspace, contact_ids: Sequence[int], now: dt.datetime
) -> dict[int, list[tuple[int, dt.datetime]]]:
    """(stage id, when) of each contact's invitations recent enough to throttle a new one."""
    window = max(workspace.throttle_days, workspace.contact_cap_days)
    asks: dict[int, list[tuple[int, dt.datetime]]] = {}
    if not window or not contact_ids:
        return asks
    for start in range(0, len(contact_ids), 500):
        stmt = select(Invitation.contact_id, Invitation.stage_id, Invitation.created_at).where(
            Invitation.contact_id.in_(contact_ids[start : start + 500]),
            Invitation.status.in_(_ASKED),
            Invitation.created_at > now - dt.timedelta(days=window),
        )
        for contact_id, stage_id, created_at in session.execute(
            workspace_scoped(stmt, workspace.id)
        ):
            asks.setdefault(contact_id, []).append((stage_id, created_at))
    return asks


def too_soon(
    workspace: Workspace,
    asks: Iterable[tuple[int, dt.datetime]],
    stage_id: int,
    now: dt.datetime,
) -> bool:
    """Whether asking now would be too soon after these earlier asks of one contact.

    Too soon: the same stage within the workspace's `throttle_days`, or any
    stage within its `contact_cap_days`.
    """
    same_stage = now - dt.timedelta(days=workspace.throttle_days)
    any_stage = now - dt.timedelta(days=workspace.contact_cap_days)
    return any(
        (workspace.throttle_days and asked_stage == stage_id and asked_at > same_stage)
        or (workspace.contact_cap_days and asked_at > any_stage)
        for asked_stage, asked_at in asks
    )


def new_invitation_status(
    workspace: Workspace,
    *,
    unsubscribed: bool,
    asks: Iterable[tuple[int, dt.datetime]],
    stage_id: int,
    now: dt.datetime,
) -> str:
    """The status a new invitation starts in: `queued` to be sent, or why it is not.

    A customer who unsubscribed (`unsubscribed`), or was asked too recently
    (`throttled`, see `too_soon` over their `asks`), keeps a record of the
    touchpoint but gets no survey.
    """
    if unsubscribed:
        return "unsubscribed"
    if too_soon(workspace, asks, stage_id, now):
        return "throttled"
    return "queued"


def mark_invitation_sent(
    session: Session, invitation: Invitation, now: dt.datetime
) -> Sequence[Row[tuple[int, int, int]]]:
    """The link has been handed to the customer (by email, or printed for the owner).

    Returns what `mark_invitations_sent` does: nothing if it was not queued.
    """
    sent = mark_invitations_sent(session, [invitation.id], now)
    if sent:
        # Already written by the statement below; keep the loaded object in step.
        set_committed_value(invitation, "status", "sent")
        set_committed_value(invitation, "sent_at", now)
    return sent


def mark_invitations_sent(
    session: Session, invitation_ids: Sequence[int], now: dt.datetime
) -> Sequence[Row[tuple[int, int, int]]]:
    """Queued invitations become sent; returns the (workspace_id, stage_id, touchpoint_id)
    of each one that was queued, for the rollup to count (`feedback.answers.mark_sent`).

    One statement for any number of invitations, and no ORM objects: the
    worker records its sends in groups.
    """
    if not invitation_ids:
        return []
    # A Core statement: the ORM's bulk-update machinery costs more than the update.
    invitations = Invitation.__table__
    return session.execute(
        update(invitations)
        .where(invitations.c.id.in_(invitation_ids), invitations.c.status == "queued")
        .values(status="sent", sent_at=now)
        .returning(invitations.c.workspace_id, invitations.c.stage_id, invitations.c.touchpoint_id)
    ).all()


def unsubscribe(session: Session, contact: Contact, now: dt.datetime) -> None:
    """No more survey emails to this contact; invitations not yet sent are stopped."""
    if contact.unsubscribed_at is None:
        contact.unsubscribed_at = now
    session.execute(
        update(Invitation)
        .where(
            Invitation.workspace_id == contact.workspace_id,
            Invitation.contact_id == contact.id,
            Invitation.status == "queued",
        )
        .values(status="unsubscribed")
        .execution_options(synchronize_session=False)
    )


@functools.cache
def _link_by_token() -> Select[Invitation]:
    """What a personal token opens: the invitation with its workspace, stage,
    touchpoint and contact, the real models in one query.

    populate_existing: the status is read fresh even if the session already
    holds the invitation (it moves only by the guarded UPDATEs below, which
    leave loaded objects as they were). Built on first use, not at import:
    building it configures the mappers, and the response's testimonial
    relationship needs the testimonials' models, which sit above this module.
    """
    return (
        select(Invitation)
        .join(Invitation.contact)
        .join(Invitation.stage)
        .join(Invitation.touchpoint)
        .join(Invitation.workspace)
        .options(
            contains_eager(Invitation.contact),
            contains_eager(Invitation.stage),
            contains_eager(Invitation.touchpoint),
            contains_eager(Invitation.workspace),
        )
        # Either link opens it: the first email's or the reminder's (each
        # column has a unique index, so this stays two index lookups).
        .where(
            or_(
                Invitation.token_hash == bindparam("token_hash"),
                Invitation.reminder_token_hash == bindparam("token_hash"),
            )
        )
        .execution_options(populate_existing=True)
    )


def find_link(session: Session, token: str) -> Invitation:
    """The invitation behind a raw token, its parts loaded with it, or InvitationNotFound.

    Built once and read in one query: the customer-facing routes are the
    busiest in the service. The invitation only ever changes through guarded
    UPDATEs (`open_link`, `store_answered`), not through this object.
    """
    if not token or len(token) > 100:
        raise InvitationNotFound(token)
    link = session.execute(_link_by_token(), {"token_hash": hash_token(token)}).scalar()
    if link is None:
        raise InvitationNotFound(token)
    return link


def check_answerable(link: Invitation, now: dt.datetime) -> None:
    """Raise AlreadyAnswered or InvitationExpired unless the link can still be answered.

    A throttled or unsubscribed invitation was never handed out: not found.
    """
    if link.status in ("throttled", "unsubscribed"):
        raise InvitationNotFound(link.id)
    if link.status == "answered":
        raise AlreadyAnswered(link.id)
    if link.status == "expired" or now >= link.expires_at:
        raise InvitationExpired(link.id)


def open_link(session: Session, link: Invitation, now: dt.datetime) -> None:
    """Mark the invitation opened the first time; raise if it can no longer be answered.

    An invitation found past its expiry is marked expired on the way.
    """
    try:
        check_answerable(link, now)
    except InvitationExpired:
        if link.status != "expired":
            session.connection().execute(_EXPIRE_INVITATION, {"invitation_id": link.id})
        raise
    if link.status in ("queued", "sent"):
        session.connection().execute(
            _OPEN_INVITATION, {"invitation_id": link.id, "opened_now": now}
        )


_invitations = Invitation.__table__
_EXPIRE_INVITATION = (
    update(_invitations)
    .where(
        _invitations.c.id == bindparam("invitation_id"),
        _invitations.c.status.not_in(("answered", "expired")),
    )
    .values(status="expired")
)
_OPEN_INVITATION = (
    update(_invitations)
    .where(
        _invitations.c.id == bindparam("invitation_id"),
        _invitations.c.status.in_(("queued", "sent")),
    )
    .values(status="opened", opened_at=bindparam("opened_now"))
)
# Moves the invitation to answered only if nothing else did first.
_CLAIM_INVITATION = (
    update(_invitations)
    .where(_invitations.c.id == bindparam("invitation_id"), _invitations.c.status != "answered")
    .values(status="answered", answered_at=bindparam("answered_now"))
)


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
    # Checked even without the opt-in: a value the form never offers is tampering, and
    # saying so beats silently recording a consent the customer did not see.
    unknown = [channel for channel in answer.channels if channel not in CHANNELS]
    if unknown:
        raise InvalidAnswer(
            "channels",
            "Please choose only from the places listed (social media, print and advertising).",
        )
    # Like the name, the role means nothing without the opt-in.
    display_role = (
        clean_text(answer.display_role, multiline=False) if answer.testimonial_opt_in else None
    )
    if display_role is not None and len(display_role) > ROLE_MAX:
        raise InvalidAnswer(
            "display_role", f"Please keep the role or company under {ROLE_MAX} characters."
        )
    channels = (
        tuple(c for c in CHANNELS if c in answer.channels) if answer.testimonial_opt_in else ()
    )
    return Answer(
        rating=answer.rating,
        comment=comment,
        testimonial_opt_in=answer.testimonial_opt_in,
        display_name=display_name,
        display_role=display_role,
        channels=channels,
    )


def new_response(
    workspace: Workspace,
    stage: Stage,
    touchpoint: Touchpoint,
    answer: Answer,
    now: dt.datetime,
    *,
    invitation_id: int | None = None,
    contact_id: int | None = None,
    submission_key: str | None = None,
) -> Response:
    """A (not yet stored) response for a validated answer, scored.

    Every column but the id is set, so the row can be inserted as it is; its
    follow-up starts as none, for the submit to open
    (`followups.services.open_follow_up_for`) before it is stored.
    """
    response = Response(
        workspace_id=workspace.id,
        invitation_id=invitation_id,
        stage_id=stage.id,
        touchpoint_id=touchpoint.id,
        contact_id=contact_id,
        submission_key=submission_key,
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
    apply_sentiment(
        response, sentiment.score(answer.comment) if answer.comment else None, stage.scale
    )
    return response


def store_answered(
    session: Session, link: Invitation, response: Response, now: dt.datetime
) -> None:
    """Claim the personal link for this response and insert it, or raise AlreadyAnswered.

    A second submit of the same link, even at the same moment from another
    process, finds the invitation already claimed; the unique constraint on
    the response's invitation backs that up.
    """
    claimed = (
        session.connection()
        .execute(_CLAIM_INVITATION, {"invitation_id": link.id, "answered_now": now})
        .rowcount
    )
    if claimed != 1:
        raise AlreadyAnswered(link.id)
    try:
        insert_complete_row(session, response)
    except IntegrityError as error:
        raise AlreadyAnswered(link.id) from error


def store_open_response(session: Session, response: Response) -> bool:
    """Insert an open-link response; False if its form (its submission key) was stored before.

    The unique (workspace, submission_key) constraint decides, so a double
    submit stores one response.
    """
    try:
        with session.begin_nested():
            insert_complete_row(session, response)
    except IntegrityError:
        return False
    return True


def response_for_invitation(session: Session, invitation: Invitation) -> Response | None:
    return session.scalar(
        workspace_scoped(
            select(Response).where(Response.invitation_id == invitation.id),
            invitation.workspace_id,
        )
    )


def apply_sentiment(response: Response, score: sentiment.Sentiment | None, scale_key: str) -> None:
    """Set (or, for None, clear) the response's sentiment columns, and its mismatch flag.

    `scale_key` is the scale of the response's stage (it cannot change once
    the stage has answers, so the flag stays true to it).
    """
    response.sentiment_compound = score.compound if score else None
    response.sentiment_pos = score.pos if score else None
    response.sentiment_neu = score.neu if score else None
    response.sentiment_neg = score.neg if score else None
    response.sentiment_label = score.label if score else None
    response.sentiment_version = score.version if score else None
    response.mismatch = is_mismatch(
        response.rating, scale_key, response.sentiment_label, response.sentiment_compound
    )


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
        batch = session.execute(
            select(Response, Stage.scale)
            .join(Stage, Stage.id == Response.stage_id)
            .where(Response.id.in_(ids[start : start + 1000]))
        )
        for response, scale_key in batch:
            assert response.comment is not None
            apply_sentiment(response, sentiment.score(response.comment), scale_key)
            changed[response.workspace_id] = changed.get(response.workspace_id, 0) + 1
        session.flush()
    return changed


class UnknownOpenLink(LookupError):
    """No such workspace, active stage or touchpoint for an open link."""


@dataclass(frozen=True)
class OpenLink:
    """A stage's open survey link (a QR code at the counter, a link on a receipt)."""

    workspace: Workspace
    stage: Stage
    touchpoint: Touchpoint | None  # None: the stage's own "open link" touchpoint


def find_open_link(
    session: Session, workspace_slug: str, stage_key: str, touchpoint_key: str | None
) -> OpenLink:
    workspace = session.scalar(select(Workspace).where(Workspace.slug == workspace_slug))
    if workspace is None:
        raise UnknownOpenLink(workspace_slug)
    stage = session.scalar(
        workspace_scoped(select(Stage).where(Stage.key == stage_key), workspace.id)
    )
    if stage is None or not stage.active:
        raise UnknownOpenLink(stage_key)
    touchpoint = None
    if touchpoint_key:
        touchpoint = session.scalar(
            workspace_scoped(
                select(Touchpoint).where(
                    Touchpoint.stage_id == stage.id, Touchpoint.key == touchpoint_key
                ),
                workspace.id,
            )
        )
        if touchpoint is None:
            raise UnknownOpenLink(touchpoint_key)
    return OpenLink(workspace, stage, touchpoint)


def open_link_touchpoint(session: Session, stage: Stage) -> Touchpoint:
    """The stage's "open link" touchpoint, made the first time it is needed."""
    query = workspace_scoped(
        select(Touchpoint).where(
            Touchpoint.stage_id == stage.id, Touchpoint.key == OPEN_LINK_TOUCHPOINT
        ),
        stage.workspace_id,
    )
    touchpoint = session.scalar(query)
    if touchpoint is not None:
        return touchpoint
    try:
        with session.begin_nested():
            touchpoint = Touchpoint(
                workspace_id=stage.workspace_id,
                stage_id=stage.id,
                key=OPEN_LINK_TOUCHPOINT,
                name="Open link",
                channel="web",
            )
            session.add(touchpoint)
    except IntegrityError:
        touchpoint = session.scalar(query)
    assert touchpoint is not None
    return touchpoint


def open_response(session: Session, workspace_id: int, submission_key: str) -> Response | None:
    """The answer an open-link form with this key stored."""
    return session.scalar(
        workspace_scoped(
            select(Response).where(Response.submission_key == submission_key), workspace_id
        )
    )
