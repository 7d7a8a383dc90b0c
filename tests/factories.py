"""Small factories that build real rows through the services."""

from __future__ import annotations

import datetime as dt
import itertools

from sqlalchemy.orm import Session

from feedback.accounts.models import User, Workspace
from feedback.accounts.services import create_owner, create_workspace
from feedback.surveys.models import Invitation, Response
from feedback.surveys.services import (
    Answer,
    IssuedInvitation,
    find_link,
    invite,
    mark_sent,
    submit_response,
)

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)
PASSWORD = "correct horse battery"
_counter = itertools.count(1)


def make_workspace(session: Session, name: str | None = None, timezone: str = "UTC") -> Workspace:
    workspace = create_workspace(session, name or f"Shop {next(_counter)}", timezone=timezone)
    session.commit()
    return workspace


def make_owner(
    session: Session, workspace_name: str | None = None, email: str | None = None
) -> tuple[User, Workspace]:
    user, workspace = create_owner(
        session,
        email or f"owner{next(_counter)}@example.com",
        PASSWORD,
        workspace_name or f"Shop {next(_counter)}",
    )
    session.commit()
    return user, workspace


def make_invitation(
    session: Session,
    workspace: Workspace,
    *,
    stage: str = "purchase",
    touchpoint: str = "checkout",
    email: str | None = None,
    now: dt.datetime = NOW,
    sent: bool = True,
    throttle: bool = True,
) -> IssuedInvitation:
    issued = invite(
        session,
        workspace,
        stage_key=stage,
        touchpoint_key=touchpoint,
        email=email or f"customer{next(_counter)}@example.com",
        now=now,
        throttle=throttle,
    )
    if sent:
        mark_sent(session, workspace, issued.invitation, now)
    session.commit()
    return issued


def link_of(session: Session, issued: IssuedInvitation) -> Invitation:
    """The survey link as a customer opening it now would get it."""
    return find_link(session, issued.token)


def make_response(
    session: Session,
    workspace: Workspace,
    *,
    stage: str = "purchase",
    touchpoint: str = "checkout",
    rating: int = 5,
    comment: str | None = "Lovely plants, quick delivery.",
    opt_in: bool = False,
    display_name: str | None = None,
    display_role: str | None = None,
    channels: tuple[str, ...] = (),
    now: dt.datetime = NOW,
) -> Response:
    issued = make_invitation(session, workspace, stage=stage, touchpoint=touchpoint, now=now)
    response = submit_response(
        session,
        link_of(session, issued),
        Answer(
            rating=rating,
            comment=comment,
            testimonial_opt_in=opt_in,
            display_name=display_name,
            display_role=display_role,
            channels=channels,
        ),
        now,
    )
    session.commit()
    return response
