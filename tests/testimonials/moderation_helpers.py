"""Helpers for the moderation tests: opted-in answers."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedback.accounts.models import Workspace
from feedback.testimonials import services
from feedback.testimonials.models import Testimonial
from tests.factories import NOW, make_response


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
    action = services.feature if featured else services.approve
    action(session, workspace.id, testimonial.id, None, NOW)
    session.commit()
    return testimonial
