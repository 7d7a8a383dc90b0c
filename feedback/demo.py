"""A demo workspace whose dashboard tells a story (Retention is the weak stage)."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from sqlalchemy.orm import Session

from feedback.accounts import services as accounts
from feedback.accounts.models import Workspace
from feedback.demo_data import generate_demo_responses
from feedback.surveys import services as surveys

DEMO_WORKSPACE = "Greenleaf Plants"
DEMO_EMAIL = "owner@greenleaf.example"
DEMO_PASSWORD = "greenleaf-demo"


@dataclass(frozen=True)
class DemoResult:
    workspace: Workspace
    created: bool
    responses: int
    invitations: int


def create_demo(
    session: Session, email: str, password: str, count: int, now: dt.datetime, seed: int = 7
) -> DemoResult:
    """The demo workspace with `count` answered invitations and some unanswered ones.

    Does nothing to an existing demo workspace but (re)set the owner's login.
    """
    existing = accounts.workspace_by_slug(session, accounts.slugify(DEMO_WORKSPACE))
    _user, workspace = accounts.create_owner(session, email, password, DEMO_WORKSPACE)
    if existing is not None:
        return DemoResult(workspace, False, 0, 0)
    rng = random.Random(seed)
    invitations = 0
    for item in generate_demo_responses(count, seed):
        answered_at = now - dt.timedelta(days=item.days_ago)
        sent_at = answered_at - dt.timedelta(hours=rng.uniform(0.2, 30))
        # About two in five customers never answer, so response rates look real.
        for _ in range(rng.choice((0, 0, 1))):
            unanswered = surveys.invite(
                session,
                workspace,
                stage_key=item.stage,
                touchpoint_key=item.touchpoint,
                email=f"quiet{invitations}@example.net",
                now=sent_at,
                throttle=False,
            )
            surveys.mark_sent(session, workspace, unanswered.invitation, sent_at)
            invitations += 1
        issued = surveys.invite(
            session,
            workspace,
            stage_key=item.stage,
            touchpoint_key=item.touchpoint,
            email=item.customer_email,
            name=item.customer_name,
            now=sent_at,
            throttle=False,
        )
        invitations += 1
        surveys.mark_sent(session, workspace, issued.invitation, sent_at)
        link = surveys.find_link(session, issued.token)
        surveys.open_link(session, link, answered_at - dt.timedelta(minutes=2))
        surveys.submit_response(
            session,
            surveys.find_link(session, issued.token),
            surveys.Answer(
                rating=item.rating,
                comment=item.comment,
                testimonial_opt_in=item.opt_in,
                display_name=item.display_name,
            ),
            answered_at,
        )
    return DemoResult(workspace, True, count, invitations)
