"""Stages and touchpoints: the default journey and look-ups by key."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from feedback.accounts.models import Workspace
from feedback.db import workspace_scoped
from feedback.journey.models import Stage, Touchpoint


@dataclass(frozen=True)
class StageTemplate:
    key: str
    name: str
    scale: str
    question: str
    comment_prompt: str
    thank_you: str
    touchpoints: tuple[tuple[str, str, str], ...]  # key, name, channel


DEFAULT_JOURNEY: tuple[StageTemplate, ...] = (
    StageTemplate(
        "awareness",
        "Awareness",
        "csat",
        "How did you feel about how you first heard of {business}?",
        "What caught your eye, or what put you off?",
        "Thank you for telling us how you found us.",
        (("ad-click", "Ad click", "web"), ("referral", "Referral", "other")),
    ),
    StageTemplate(
        "consideration",
        "Consideration",
        "csat",
        "How helpful was {business} while you were deciding?",
        "What helped you decide, or what was missing?",
        "Thank you for telling us how we helped you decide.",
        (("discovery-call", "Discovery call", "phone"), ("quote-sent", "Quote sent", "email")),
    ),
    StageTemplate(
        "purchase",
        "Purchase decision",
        "csat",
        "How satisfied are you with buying from {business}?",
        "Tell us about the checkout and the delivery.",
        "Thank you for telling us about your order.",
        (("checkout", "Checkout", "web"), ("order-delivered", "Order delivered", "other")),
    ),
    StageTemplate(
        "retention",
        "Retention",
        "csat",
        "How satisfied are you with the help you have had from {business} since?",
        "What went well, and what should we fix?",
        "Thank you for telling us how we have looked after you.",
        (
            ("onboarding-complete", "Onboarding complete", "email"),
            ("support-ticket-solved", "Support ticket solved", "email"),
        ),
    ),
    StageTemplate(
        "advocacy",
        "Loyalty & advocacy",
        "nps",
        "How likely are you to recommend {business} to a friend or colleague?",
        "What is the main reason for your score?",
        "Thank you for telling us whether you would recommend us.",
        (("renewal", "Renewal", "email"), ("referral-made", "Referral made", "other")),
    ),
)


class UnknownStage(LookupError):
    """No active stage with that key in the workspace."""


class UnknownTouchpoint(LookupError):
    """No touchpoint with that key in the stage."""


def create_default_journey(session: Session, workspace: Workspace) -> list[Stage]:
    """Give a new workspace the five default stages and their touchpoints."""
    stages = []
    for position, template in enumerate(DEFAULT_JOURNEY, start=1):
        stage = Stage(
            workspace_id=workspace.id,
            key=template.key,
            name=template.name,
            position=position,
            scale=template.scale,
            question=template.question.format(business=workspace.name),
            comment_prompt=template.comment_prompt,
            thank_you=template.thank_you,
        )
        session.add(stage)
        session.flush()
        for key, name, channel in template.touchpoints:
            session.add(
                Touchpoint(
                    workspace_id=workspace.id,
                    stage_id=stage.id,
                    key=key,
                    name=name,
                    channel=channel,
                )
            )
        stages.append(stage)
    session.flush()
    return stages


def stages_in_order(session: Session, workspace_id: int) -> list[Stage]:
    """The workspace's stages in journey order, touchpoints loaded."""
    stmt = select(Stage).options(selectinload(Stage.touchpoints)).order_by(Stage.position, Stage.id)
    return list(session.scalars(workspace_scoped(stmt, workspace_id)))


def find_touchpoint(
    session: Session, workspace_id: int, stage_key: str, touchpoint_key: str
) -> Touchpoint:
    """The touchpoint `touchpoint_key` of the active stage `stage_key`."""
    stage = session.scalar(
        workspace_scoped(select(Stage).where(Stage.key == stage_key), workspace_id)
    )
    if stage is None or not stage.active:
        raise UnknownStage(stage_key)
    touchpoint = session.scalar(
        workspace_scoped(
            select(Touchpoint).where(
                Touchpoint.stage_id == stage.id, Touchpoint.key == touchpoint_key
            ),
            workspace_id,
        )
    )
    if touchpoint is None:
        raise UnknownTouchpoint(touchpoint_key)
    return touchpoint
