"""Small factories that build real rows through the services; every test package uses these."""

from __future__ import annotations

import datetime as dt
import itertools
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedback.accounts import services as accounts
from feedback.accounts.models import Membership, User, Workspace
from feedback.accounts.services import create_owner, create_workspace
from feedback.answers import mark_sent, submit_open_response, submit_response
from feedback.db import utcnow
from feedback.journey.services import stages_in_order
from feedback.surveys.models import Invitation, Response
from feedback.surveys.services import (
    Answer,
    IssuedInvitation,
    find_link,
    find_open_link,
    invite,
)
from feedback.testimonials import services as testimonials
from feedback.testimonials.models import Testimonial

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


def add_member(session: Session, workspace: Workspace, email: str, role: str = "member") -> User:
    """Someone else in the workspace (not its first owner)."""
    user = User(email=email, password_hash="!")
    session.add(user)
    session.flush()
    session.add(Membership(workspace_id=workspace.id, user_id=user.id, role=role))
    session.commit()
    return user


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


def opted_in(
    session: Session,
    workspace: Workspace,
    comment: str | None = "Lovely plants, quick delivery.",
    *,
    display_name: str | None = "Ann",
    rating: int = 5,
    stage: str = "purchase",
    touchpoint: str = "checkout",
    now: dt.datetime = NOW,
    role: str | None = None,
    channels: str = "website",
) -> Testimonial:
    """A response whose customer ticked "you may quote me" (and typed `role`, ticked
    `channels`, space-separated), and its testimonial."""
    response = make_response(
        session,
        workspace,
        comment=comment,
        opt_in=True,
        display_name=display_name,
        display_role=role,
        channels=tuple(channels.split()),
        rating=rating,
        stage=stage,
        touchpoint=touchpoint,
        now=now,
    )
    return session.scalars(select(Testimonial).where(Testimonial.response_id == response.id)).one()


def approved(
    session: Session,
    workspace: Workspace,
    comment: str | None = "Lovely plants, quick delivery.",
    *,
    role: str | None = None,
    channels: str = "website",
    featured: bool = False,
    **kwargs: object,
) -> Testimonial:
    """An opted-in testimonial the owner approved (or featured), committed."""
    testimonial = opted_in(
        session,
        workspace,
        comment,
        role=role,
        channels=channels,
        **kwargs,  # type: ignore[arg-type]
    )
    action = testimonials.feature if featured else testimonials.approve
    action(session, workspace.id, testimonial.id, None, NOW)
    session.commit()
    return testimonial


def quote(
    session: Session,
    workspace: Workspace,
    comment: str | None,
    status: str = "approved",
    *,
    display_name: str | None = "Ann",
    rating: int = 5,
    stage: str = "purchase",
    touchpoint: str = "checkout",
    now: dt.datetime = NOW,
    withdrawn: bool = False,
    excerpt: str | None = None,
    role: str | None = None,
) -> Testimonial:
    """An opted-in answer whose testimonial the owner has moved to `status`."""
    testimonial = opted_in(
        session,
        workspace,
        comment,
        role=role,
        display_name=display_name,
        rating=rating,
        stage=stage,
        touchpoint=touchpoint,
        now=now,
    )
    testimonial.status = status
    testimonial.excerpt = excerpt
    if withdrawn:
        testimonial.withdrawn_at = now + dt.timedelta(days=1)
    session.commit()
    return testimonial


def open_link_testimonial(session: Session, workspace: Workspace) -> Testimonial:
    """An opt-in given through a stage's open link: no contact, no address."""
    link = find_open_link(session, workspace.slug, "purchase", None)
    answer = Answer(rating=5, comment="Kind staff.", testimonial_opt_in=True, display_name="Dev")
    response = submit_open_response(session, link, answer, "a" * 32, NOW)
    assert response is not None
    session.commit()
    return session.scalars(select(Testimonial).where(Testimonial.response_id == response.id)).one()


def owner_with_every_page(session: Session) -> tuple[User, list[str]]:
    """An owner whose workspace has something on every owner page; the user and those paths.

    The data is awkward on purpose: a long unbroken word, a long address.
    """
    user, workspace = make_owner(session)
    now = utcnow()
    unhappy = make_response(
        session,
        workspace,
        rating=1,
        comment="The pot arrived cracked and nobody answered my emails for a week. "
        "Anexceptionallylongwordwithoutanyspacesthatcouldpushthelayoutsideways.",
        now=now,
    )
    make_response(session, workspace, rating=5, opt_in=True, display_name="Priya K.", now=now)
    accounts.add_member(
        session, workspace, "a.rather.long.address.for.a.colleague@example.com", "member"
    )
    accounts.create_api_key(session, workspace, "Shop orders", now, created_by=user)
    session.commit()
    stage = stages_in_order(session, workspace.id)[2]
    return user, [
        "/dashboard",
        f"/stages/{stage.key}",
        "/responses",
        f"/responses/{unhappy.id}",
        "/follow-ups",
        f"/follow-ups/{unhappy.id}",
        "/testimonials",
        "/settings",
        "/settings/journey",
        f"/settings/journey/{stage.id}",
        f"/settings/journey/{stage.id}/preview",
        "/settings/team",
        "/settings/links",
        "/settings/api-keys",
        "/settings/webhooks",
        "/settings/delivery",
        "/settings/testimonials",
        "/touchpoints/import",
        "/account",
        "/account/password",
    ]
