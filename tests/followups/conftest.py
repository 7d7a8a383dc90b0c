"""Helpers for follow-up tests: unhappy answers and more people in a workspace."""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy.orm import Session

from feedback.accounts.models import Membership, User, Workspace
from feedback.surveys.models import Response
from feedback.surveys.services import Answer, find_open_link, submit_open_response
from tests.factories import NOW, make_response


def unhappy(
    session: Session,
    workspace: Workspace,
    *,
    now: dt.datetime = NOW,
    comment: str | None = "Awful",
    rating: int = 1,
    stage: str = "purchase",
    touchpoint: str = "checkout",
) -> Response:
    """An answer through a personal link that opens a follow-up."""
    response = make_response(
        session,
        workspace,
        stage=stage,
        touchpoint=touchpoint,
        rating=rating,
        comment=comment,
        now=now,
    )
    assert response.follow_up_state == "open"
    return response


def unhappy_open_link(
    session: Session, workspace: Workspace, *, now: dt.datetime = NOW, stage: str = "purchase"
) -> Response:
    """An anonymous answer through a stage's open link (no contact) that opens a follow-up."""
    link = find_open_link(session, workspace.slug, stage, None)
    response = submit_open_response(
        session,
        link,
        Answer(rating=1, comment="Rude staff", testimonial_opt_in=False, display_name=None),
        secrets.token_hex(16),
        now,
    )
    session.commit()
    assert response is not None and response.follow_up_state == "open"
    return response


def add_member(session: Session, workspace: Workspace, email: str, role: str = "member") -> User:
    """Someone else in the workspace (not its first owner)."""
    user = User(email=email, password_hash="!")
    session.add(user)
    session.flush()
    session.add(Membership(workspace_id=workspace.id, user_id=user.id, role=role))
    session.commit()
    return user
