"""Journey stages and the touchpoints that happen in them."""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from feedback.db import WorkspaceOwned, created_at, intpk, same_workspace_fk, str40, str80
from feedback.extensions import Model
from feedback.journey.scales import SCALES, Scale

CHANNELS = ("email", "phone", "web", "store", "social", "meeting", "other")
# The touchpoint open-link answers (QR codes, receipts) are filed under; made when first needed.
OPEN_LINK_TOUCHPOINT = "open-link"


class Stage(WorkspaceOwned, Model):
    """One step of a workspace's customer journey, in journey order by `position`."""

    __tablename__ = "stage"
    __table_args__ = (
        UniqueConstraint("workspace_id", "key"),
        # Lets children reference (workspace_id, id), so a row can never point
        # at another workspace's stage.
        UniqueConstraint("workspace_id", "id"),
        CheckConstraint(f"scale IN {tuple(SCALES)!r}", name="scale_known"),
        Index("ix_stage_workspace_position", "workspace_id", "position"),
    )

    id: Mapped[intpk]
    key: Mapped[str40]
    name: Mapped[str80]
    position: Mapped[int]
    question: Mapped[str] = mapped_column(String(300))
    scale: Mapped[str] = mapped_column(String(10))
    comment_prompt: Mapped[str] = mapped_column(String(200))
    thank_you: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[created_at]

    touchpoints: Mapped[list[Touchpoint]] = relationship(
        back_populates="stage",
        primaryjoin="Stage.id == Touchpoint.stage_id",
        foreign_keys="Touchpoint.stage_id",
        order_by="Touchpoint.id",
    )

    @property
    def rating_scale(self) -> Scale:
        return SCALES[self.scale]

    def __repr__(self) -> str:
        return f"<Stage {self.key}>"


class Touchpoint(WorkspaceOwned, Model):
    """Something that happens to a customer in a stage (a call, a delivery...)."""

    __tablename__ = "touchpoint"
    __table_args__ = (
        UniqueConstraint("workspace_id", "stage_id", "key"),
        UniqueConstraint("workspace_id", "id"),
        same_workspace_fk("stage_id", "stage"),
        CheckConstraint(f"channel IN {CHANNELS!r}", name="channel_known"),
    )

    id: Mapped[intpk]
    stage_id: Mapped[int]
    key: Mapped[str40]
    name: Mapped[str80]
    channel: Mapped[str] = mapped_column(String(10), default="other")
    created_at: Mapped[created_at]

    stage: Mapped[Stage] = relationship(
        back_populates="touchpoints",
        primaryjoin="Stage.id == Touchpoint.stage_id",
        foreign_keys="Touchpoint.stage_id",
    )

    def __repr__(self) -> str:
        return f"<Touchpoint {self.key}>"
