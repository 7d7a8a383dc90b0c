"""A customer's answer, submitted in one place, and the sent link it answers, counted.

Submitting reaches across packages: the response is stored (surveys) with
its first follow-up state (followups), an opt-in's consent is recorded and
its links and emails go out (testimonials), webhook events are queued
(delivery), and the day's rollup is bumped (insights). This module sits
above all of them and calls each in turn, so none of them calls another for
a submit and data flows one way: touchpoint -> invitation -> outbox ->
answer -> rollup -> pages. The survey views, the CLI and the demo call it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from feedback.accounts.models import Workspace
from feedback.delivery import webhooks
from feedback.followups.services import open_follow_up_for
from feedback.insights import services as rollup
from feedback.journey.models import Stage, Touchpoint
from feedback.surveys import services as surveys
from feedback.surveys.models import Invitation, Response
from feedback.testimonials.consent import after_opt_in
from feedback.testimonials.services import record_consent


@dataclass(frozen=True)
class Submitted:
    """A stored answer, and the consent link its thanks page offers (None without an opt-in)."""

    response: Response
    consent_token: str | None


def answer_survey(
    session: Session, link: Invitation, answer: surveys.Answer, *, base_url: str, now: dt.datetime
) -> Submitted:
    """What the personal survey form's Send does: `submit_response`, then what an opt-in
    sets off (a consent link, the customer's confirmation email, the owners' notice)."""
    response = submit_response(session, link, answer, now)
    # Without the opt-in there is no consent to follow up (and no need to load it).
    token = (
        after_opt_in(
            session,
            response,
            link.workspace,
            link.stage,
            link.contact.email,
            base_url=base_url,
            now=now,
        )
        if response.testimonial_opt_in
        else None
    )
    return Submitted(response, token)


def answer_open_survey(
    session: Session,
    link: surveys.OpenLink,
    answer: surveys.Answer,
    submission_key: str,
    *,
    base_url: str,
    now: dt.datetime,
) -> Submitted | None:
    """What an open survey form's Send does: `submit_open_response`, then what an opt-in
    sets off; None if this form was sent before (its consent was handled then).

    Anyone may answer an open link, so there is no address to confirm the
    consent to: the thanks page's link is all the customer gets.
    """
    response = submit_open_response(session, link, answer, submission_key, now)
    if response is None:
        return None
    token = (
        after_opt_in(
            session, response, link.workspace, link.stage, None, base_url=base_url, now=now
        )
        if response.testimonial_opt_in
        else None
    )
    return Submitted(response, token)


def submit_response(
    session: Session, link: Invitation, answer: surveys.Answer, now: dt.datetime
) -> Response:
    """Store a customer's answer to their invitation, with its sentiment and rollup.

    Raises InvalidAnswer, AlreadyAnswered or InvitationExpired. A second submit
    of the same link, even at the same moment from another process, raises
    AlreadyAnswered (`surveys.services.store_answered`).
    """
    surveys.check_answerable(link, now)
    answer = surveys.validated_answer(link.stage, answer)

    def claim_and_insert(response: Response) -> bool:
        surveys.store_answered(session, link, response, now)
        return True

    response = _submit(
        session,
        link.workspace,
        link.stage,
        link.touchpoint,
        answer,
        now,
        store=claim_and_insert,
        invitation_id=link.id,
        contact_id=link.contact_id,
    )
    assert response is not None  # claim_and_insert stores or raises
    return response


def submit_open_response(
    session: Session,
    link: surveys.OpenLink,
    answer: surveys.Answer,
    submission_key: str,
    now: dt.datetime,
) -> Response | None:
    """Store an anonymous answer given through an open link; None if this form was sent before.

    `submission_key` comes with the form, so a double submit stores one
    response (`surveys.services.store_open_response`).
    """
    answer = surveys.validated_answer(link.stage, answer)
    touchpoint = link.touchpoint or surveys.open_link_touchpoint(session, link.stage)
    return _submit(
        session,
        link.workspace,
        link.stage,
        touchpoint,
        answer,
        now,
        store=lambda response: surveys.store_open_response(session, response),
        submission_key=submission_key,
    )


def _submit(
    session: Session,
    workspace: Workspace,
    stage: Stage,
    touchpoint: Touchpoint,
    answer: surveys.Answer,
    now: dt.datetime,
    *,
    store: Callable[[Response], bool],
    invitation_id: int | None = None,
    contact_id: int | None = None,
    submission_key: str | None = None,
) -> Response | None:
    """The submit both kinds of link share, for a validated answer; None if stored before.

    The response is scored, its follow-up opened if unhappy, and `store`
    writes it (False: this answer was stored before, and nothing more is
    done); then its consent, webhook events and rollup follow.
    """
    # Everything is computed before the first write: on SQLite the write lock
    # is held from the first write to the commit.
    response = surveys.new_response(
        workspace,
        stage,
        touchpoint,
        answer,
        now,
        invitation_id=invitation_id,
        contact_id=contact_id,
        submission_key=submission_key,
    )
    open_follow_up_for(response, workspace, stage.scale, now)
    counters = rollup.response_counters(response, stage.scale)
    day = rollup.local_day(now, workspace.timezone)
    if not store(response):
        return None
    if answer.testimonial_opt_in:
        record_consent(
            session,
            workspace,
            response,
            answer.display_name,
            now,
            display_role=answer.display_role,
            channels=("website", *answer.channels),
        )
    publish_response_events(
        session,
        workspace,
        response,
        stage.key,
        touchpoint.key,
        bool(counters.get("unhappy")),
        now,
    )
    # Last, so the lock on today's shared rollup row is held as briefly as possible.
    rollup.bump_rollup(
        session,
        workspace_id=workspace.id,
        stage_id=stage.id,
        touchpoint_id=touchpoint.id,
        day=day,
        counters=counters,
    )
    return response


def publish_response_events(
    session: Session,
    workspace: Workspace,
    response: Response,
    stage_key: str,
    touchpoint_key: str,
    unhappy: bool,
    now: dt.datetime,
) -> None:
    """Webhook events for a new response, in the response's own transaction."""
    if not workspace.has_webhooks:
        return
    data = {
        "id": response.id,
        "stage": stage_key,
        "touchpoint": touchpoint_key,
        "rating": response.rating,
        "comment": response.comment,
        "sentiment": (
            {"compound": response.sentiment_compound, "label": response.sentiment_label}
            if response.sentiment_label
            else None
        ),
        "testimonial_opt_in": response.testimonial_opt_in,
        "submitted_at": response.submitted_at.isoformat(),
    }
    events = ["response.created"]
    if unhappy:
        events.append("response.negative")
    if response.testimonial_opt_in:
        events.append("testimonial.opted_in")
    webhooks.enqueue_events(session, workspace.id, events, data, now)


def mark_sent(
    session: Session, workspace: Workspace, invitation: Invitation, now: dt.datetime
) -> None:
    """The link has been handed to the customer (by email, or printed for the owner);
    counted in its day's rollup."""
    rollup.count_sends(session, surveys.mark_invitation_sent(session, invitation, now), now)


def record_emails_sent(session: Session, metas: Sequence[dict[str, Any]], now: dt.datetime) -> None:
    """The outbox delivered these emails; the invitations they carried are now sent, and counted."""
    ids = [meta["invitation_id"] for meta in metas if meta.get("invitation_id") is not None]
    rollup.count_sends(session, surveys.mark_invitations_sent(session, ids, now), now)
