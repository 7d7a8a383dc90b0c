"""Changing a journey in use: the edits a stage's answers can refuse.

A stage's scale cannot change once it has answers, and a stage or touchpoint
that invitations, responses or rollup rows refer to cannot be deleted. Those
guards read the surveys' and the rollup's tables, so these edits sit above
surveys and insights; the rest of the journey (look-ups, the default
journey, adding and renaming) stays in `journey.services`, below them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedback.db import lock_for_writing
from feedback.insights.models import StageDailyStat
from feedback.journey.models import Stage, Touchpoint
from feedback.journey.scales import SCALES
from feedback.journey.services import (
    NAME_MAX,
    PROMPT_MAX,
    QUESTION_MAX,
    JourneyError,
    StageChanges,
    owner_text,
    stages_in_order,
)
from feedback.surveys.models import Invitation, Response

# The rows that refer to a stage or touchpoint.
_MODELS_THAT_REFER: tuple[type[Any], ...] = (Invitation, Response, StageDailyStat)


def _referred_to(
    session: Session, workspace_id: int, column: str, value: int, models: tuple[type[Any], ...]
) -> bool:
    """Whether a row of any of `models` in the workspace has `column` equal to `value`."""
    return any(
        session.scalar(
            select(
                select(getattr(model, column))
                .where(model.workspace_id == workspace_id, getattr(model, column) == value)
                .exists()
            )
        )
        for model in models
    )


def stage_in_use(session: Session, stage: Stage) -> bool:
    """Whether any invitation, response or rollup row refers to the stage."""
    return _referred_to(session, stage.workspace_id, "stage_id", stage.id, _MODELS_THAT_REFER)


def stage_has_responses(session: Session, stage: Stage) -> bool:
    return _referred_to(session, stage.workspace_id, "stage_id", stage.id, (Response,))


def touchpoint_in_use(session: Session, touchpoint: Touchpoint) -> bool:
    """Whether any invitation, response or rollup row refers to the touchpoint."""
    return _referred_to(
        session, touchpoint.workspace_id, "touchpoint_id", touchpoint.id, _MODELS_THAT_REFER
    )


def update_stage(session: Session, stage: Stage, changes: StageChanges) -> Stage:
    """Apply an owner's changes to a stage, or JourneyError naming the field at fault.

    The scale cannot change once the stage has answers: its rollups would
    mix ratings of two scales (a 5 out of 5 is not a 5 out of 10).
    """
    name = owner_text(changes.name, "name", "a name", NAME_MAX)
    others = [s for s in stages_in_order(session, stage.workspace_id) if s.id != stage.id]
    if name.casefold() in {s.name.casefold() for s in others}:
        raise JourneyError("name", "Another stage already has this name.")
    question = owner_text(changes.question, "question", "the question", QUESTION_MAX)
    comment_prompt = owner_text(
        changes.comment_prompt, "comment_prompt", "the comment prompt", PROMPT_MAX
    )
    thank_you = owner_text(changes.thank_you, "thank_you", "the thank-you line", PROMPT_MAX)
    if changes.scale not in SCALES:
        raise JourneyError("scale", "Please choose one of the scales listed.")
    if changes.scale != stage.scale and stage_has_responses(session, stage):
        raise JourneyError(
            "scale",
            "This stage already has answers on its scale, so the scale cannot change "
            "(its figures would mix two scales). Add a new stage instead.",
        )
    if not changes.active and not any(s.active for s in others):
        raise JourneyError("active", "At least one stage must stay active.")
    stage.name = name
    stage.question = question
    stage.comment_prompt = comment_prompt
    stage.thank_you = thank_you
    stage.scale = changes.scale
    stage.active = changes.active
    session.flush()
    return stage


def remove_touchpoint(session: Session, touchpoint: Touchpoint) -> None:
    """Delete a touchpoint nobody was asked about yet; one in use stays (its answers need it).

    The rows that refer to a touchpoint go with it (ON DELETE CASCADE), so the
    check and the delete must not let an invitation in between: the row is
    locked first (FOR UPDATE on PostgreSQL, which new invitations' foreign key
    checks wait for; the write lock on SQLite).
    """
    lock_for_writing(session)
    session.execute(
        select(Touchpoint.id).where(Touchpoint.id == touchpoint.id).with_for_update()
    ).all()
    if touchpoint_in_use(session, touchpoint):
        raise JourneyError(
            "touchpoint",
            f"“{touchpoint.name}” already has survey links or answers, so it stays; "
            "rename it instead.",
        )
    session.delete(touchpoint)
    session.flush()


def remove_stage(session: Session, stage: Stage) -> None:
    """Delete a stage nobody was asked about yet, with its touchpoints (a stage added by
    mistake); one in use can only be switched off. Locked like `remove_touchpoint`."""
    lock_for_writing(session)
    session.execute(select(Stage.id).where(Stage.id == stage.id).with_for_update()).all()
    if stage_in_use(session, stage):
        raise JourneyError(
            "stage",
            f"“{stage.name}” already has survey links or answers, so it stays; "
            "switch it off instead.",
        )
    others = [s for s in stages_in_order(session, stage.workspace_id) if s.id != stage.id]
    if not any(s.active for s in others):
        raise JourneyError("stage", "At least one stage must stay active.")
    for touchpoint in list(stage.touchpoints):
        session.delete(touchpoint)
    session.delete(stage)
    session.flush()
