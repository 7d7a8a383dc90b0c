"""The stage/touchpoint/day rollup the dashboard reads instead of scanning responses."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, Float, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from feedback.db import WorkspaceOwned, intpk, same_workspace_fk
from feedback.extensions import Model


class StageDailyStat(WorkspaceOwned, Model):
    """Counts and sums for one stage and touchpoint on one day of the workspace's calendar.

    Updated in the same transaction as each response, so its figures always
    equal a scan of the responses.
    """

    __tablename__ = "stage_daily_stat"
    __table_args__ = (
        UniqueConstraint("workspace_id", "stage_id", "touchpoint_id", "day"),
        same_workspace_fk("stage_id", "stage"),
        same_workspace_fk("touchpoint_id", "touchpoint"),
    )

    id: Mapped[intpk]
    stage_id: Mapped[int]
    touchpoint_id: Mapped[int]
    day: Mapped[dt.date] = mapped_column(Date)
    invitations_sent: Mapped[int] = mapped_column(default=0)
    responses: Mapped[int] = mapped_column(default=0)
    # Responses through a personal invitation (not an open link): the response
    # rate is answered / invitations_sent.
    answered: Mapped[int] = mapped_column(default=0)
    rating_sum: Mapped[int] = mapped_column(default=0)
    scored: Mapped[int] = mapped_column(default=0)
    compound_sum: Mapped[float] = mapped_column(Float, default=0.0)
    positive: Mapped[int] = mapped_column(default=0)
    neutral: Mapped[int] = mapped_column(default=0)
    negative: Mapped[int] = mapped_column(default=0)
    promoters: Mapped[int] = mapped_column(default=0)
    passives: Mapped[int] = mapped_column(default=0)
    detractors: Mapped[int] = mapped_column(default=0)
    unhappy: Mapped[int] = mapped_column(default=0)
    opted_in: Mapped[int] = mapped_column(default=0)
