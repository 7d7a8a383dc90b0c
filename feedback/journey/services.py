"""Stages and touchpoints: the default journey and look-ups by key."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from feedback.accounts.models import Workspace
from feedback.db import workspace_scoped
from feedback.journey.models import CHANNELS, OPEN_LINK_TOUCHPOINT, Stage, Touchpoint
from feedback.journey.scales import SCALES
from feedback.text import clean_text, slug_of


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


# -- editing the journey ---------------------------------------------------------------

NAME_MAX = 80
QUESTION_MAX = 300
PROMPT_MAX = 200
KEY_MAX = 40


class JourneyError(ValueError):
    """A change to the journey that cannot be made; `field` names the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class NotInWorkspace(LookupError):
    """No stage or touchpoint with that id in the workspace."""


@dataclass(frozen=True)
class StageChanges:
    """What an owner may change on a stage. Its key never changes: API calls,
    CSV imports and printed QR codes name the stage by it."""

    name: str
    question: str
    comment_prompt: str
    thank_you: str
    scale: str
    active: bool


def stage_of(session: Session, workspace_id: int, stage_id: int) -> Stage:
    """The workspace's stage with that id, or NotInWorkspace."""
    stage = session.scalar(
        workspace_scoped(select(Stage).where(Stage.id == stage_id), workspace_id)
    )
    if stage is None:
        raise NotInWorkspace(stage_id)
    return stage


def touchpoint_of(session: Session, stage: Stage, touchpoint_id: int) -> Touchpoint:
    """The stage's touchpoint with that id, or NotInWorkspace."""
    touchpoint = session.scalar(
        workspace_scoped(
            select(Touchpoint).where(
                Touchpoint.id == touchpoint_id, Touchpoint.stage_id == stage.id
            ),
            stage.workspace_id,
        )
    )
    if touchpoint is None:
        raise NotInWorkspace(touchpoint_id)
    return touchpoint


def owner_text(value: str | None, field: str, label: str, limit: int) -> str:
    """One line of the owner's wording, cleaned, or JourneyError for the field."""
    text = clean_text(value, multiline=False)
    if text is None:
        raise JourneyError(field, f"Please enter {label}.")
    if len(text) > limit:
        raise JourneyError(field, f"Please keep {label} under {limit} characters.")
    return text


def _unique_key(name: str, taken: set[str], fallback: str) -> str:
    """A slug of the name that is not taken yet: 'In-store visit' -> 'in-store-visit'(-2...)."""
    base = slug_of(name, limit=KEY_MAX) or fallback
    key, n = base, 1
    while key in taken:
        n += 1
        suffix = f"-{n}"
        key = base[: KEY_MAX - len(suffix)].rstrip("-") + suffix
    return key


def add_stage(session: Session, workspace: Workspace, name: str, scale: str) -> Stage:
    """A new stage at the end of the journey, with starter wording the owner can edit."""
    name = owner_text(name, "name", "a name", NAME_MAX)
    if scale not in SCALES:
        raise JourneyError("scale", "Please choose one of the scales listed.")
    stages = stages_in_order(session, workspace.id)
    if name.casefold() in {s.name.casefold() for s in stages}:
        raise JourneyError("name", "Another stage already has this name.")
    question = (
        f"How likely are you to recommend {workspace.name} to a friend or colleague?"
        if scale == "nps"
        else f"How was your experience with {workspace.name}?"
    )
    stage = Stage(
        workspace_id=workspace.id,
        key=_unique_key(name, {s.key for s in stages}, "stage"),
        name=name,
        position=max((s.position for s in stages), default=0) + 1,
        scale=scale,
        question=question[:QUESTION_MAX],
        comment_prompt="What went well, and what could we do better?",
        thank_you="Thank you for your feedback.",
        active=True,
    )
    session.add(stage)
    session.flush()
    return stage


def move_stage(session: Session, stage: Stage, step: int) -> None:
    """Move a stage one place earlier (-1) or later (+1) in the journey; at an end, nothing."""
    stages = stages_in_order(session, stage.workspace_id)
    # Positions are renumbered 1..n, so stages that once shared a position get apart.
    index = next(i for i, s in enumerate(stages) if s.id == stage.id)
    target = index + step
    if step not in (-1, 1) or not 0 <= target < len(stages):
        return
    stages[index], stages[target] = stages[target], stages[index]
    for position, each in enumerate(stages, start=1):
        each.position = position
    session.flush()


def _touchpoint_fields(name: str, channel: str) -> tuple[str, str]:
    name = owner_text(name, "name", "a name", NAME_MAX)
    if channel not in CHANNELS:
        raise JourneyError("channel", "Please choose one of the channels listed.")
    return name, channel


def add_touchpoint(session: Session, stage: Stage, name: str, channel: str) -> Touchpoint:
    """A new touchpoint in the stage; its key is made from the name and never changes."""
    name, channel = _touchpoint_fields(name, channel)
    if name.casefold() in {t.name.casefold() for t in stage.touchpoints}:
        raise JourneyError("name", "This stage already has a touchpoint with this name.")
    touchpoint = Touchpoint(
        workspace_id=stage.workspace_id,
        stage_id=stage.id,
        # The open-link key is kept free, so open-link answers never land on an owner's touchpoint.
        key=_unique_key(
            name, {t.key for t in stage.touchpoints} | {OPEN_LINK_TOUCHPOINT}, "touchpoint"
        ),
        name=name,
        channel=channel,
    )
    session.add(touchpoint)
    session.flush()
    return touchpoint


def update_touchpoint(
    session: Session, touchpoint: Touchpoint, name: str, channel: str
) -> Touchpoint:
    """Rename a touchpoint or change its channel; its key stays as it was."""
    name, channel = _touchpoint_fields(name, channel)
    siblings = [t for t in touchpoint.stage.touchpoints if t.id != touchpoint.id]
    if name.casefold() in {t.name.casefold() for t in siblings}:
        raise JourneyError("name", "This stage already has a touchpoint with this name.")
    touchpoint.name = name
    touchpoint.channel = channel
    session.flush()
    return touchpoint
