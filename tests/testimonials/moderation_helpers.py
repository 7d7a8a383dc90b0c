"""Helpers for the moderation tests: opted-in answers."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedback.accounts.models import Workspace
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
) -> Testimonial:
    """A response whose customer ticked "you may quote me", and its testimonial."""
    response = make_response(
        session,
        workspace,
        comment=comment,
        opt_in=True,
        display_name=display_name,
        rating=rating,
        stage=stage,
        touchpoint=touchpoint,
        now=now,
    )
    return session.scalars(select(Testimonial).where(Testimonial.response_id == response.id)).one()
