"""The stage/day rollup: kept current with every response, read by the dashboard."""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from feedback.db import workspace_scoped
from feedback.insights.models import StageDailyStat
from feedback.journey.models import Stage
from feedback.journey.scales import SCALES
from feedback.surveys.models import Invitation, Response

COUNTERS = (
    "invitations_sent",
    "responses",
    "rating_sum",
    "scored",
    "compound_sum",
    "positive",
    "neutral",
    "negative",
    "promoters",
    "passives",
    "detractors",
    "unhappy",
    "opted_in",
)


def local_day(moment: dt.datetime, timezone: str) -> dt.date:
    """The day `moment` falls on in the workspace's calendar."""
    return moment.astimezone(ZoneInfo(timezone)).date()


def response_counters(response: Response, scale_key: str) -> dict[str, float]:
    """What one response adds to its stage's day."""
    scale = SCALES[scale_key]
    counters: dict[str, float] = {
        "responses": 1,
        "rating_sum": response.rating,
        "unhappy": int(is_unhappy(response, scale_key)),
        "opted_in": int(response.testimonial_opt_in),
    }
    if response.sentiment_label is not None and response.sentiment_compound is not None:
        counters["scored"] = 1
        counters["compound_sum"] = response.sentiment_compound
        counters[response.sentiment_label] = 1
    if scale.key == "nps":
        bucket = (
            "promoters"
            if response.rating >= 9
            else "passives"
            if response.rating >= 7
            else "detractors"
        )
        counters[bucket] = 1
    return counters


def is_unhappy(response: Response, scale_key: str) -> bool:
    """A low rating on its scale, or a negative comment: someone to get back to."""
    return SCALES[scale_key].is_unhappy(response.rating) or response.sentiment_label == "negative"


@functools.cache
def _rollup_upsert(dialect: str) -> Insert:
    """INSERT ... ON CONFLICT DO UPDATE adding every counter, built once per dialect.

    An upsert rather than read-modify-write, so concurrent submits add up
    instead of overwriting each other; built once because composing it costs
    more than running it.
    """
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = StageDailyStat.__table__.c
    stmt = insert(StageDailyStat.__table__)
    return stmt.on_conflict_do_update(
        index_elements=["workspace_id", "stage_id", "touchpoint_id", "day"],
        set_={name: table[name] + stmt.excluded[name] for name in COUNTERS},
    )


def bump_rollup(
    session: Session,
    *,
    workspace_id: int,
    stage_id: int,
    touchpoint_id: int,
    day: dt.date,
    counters: dict[str, float],
) -> None:
    """Add `counters` to one rollup row, creating it if needed, in one statement."""
    params = dict.fromkeys(COUNTERS, 0)
    params.update(counters)
    params.update(
        workspace_id=workspace_id, stage_id=stage_id, touchpoint_id=touchpoint_id, day=day
    )
    connection = session.connection()
    connection.execute(_rollup_upsert(connection.dialect.name), params)


def record_response(session: Session, response: Response, timezone: str, scale_key: str) -> None:
    bump_rollup(
        session,
        workspace_id=response.workspace_id,
        stage_id=response.stage_id,
        touchpoint_id=response.touchpoint_id,
        day=local_day(response.submitted_at, timezone),
        counters=response_counters(response, scale_key),
    )


def rebuild_rollups(session: Session, workspace_id: int, timezone: str) -> int:
    """Recompute a workspace's rollup from its responses and invitations.

    Returns the number of rollup rows written.
    """
    scales = dict(
        session.execute(workspace_scoped(select(Stage.id, Stage.scale), workspace_id)).all()
    )
    rows: dict[tuple[int, int, dt.date], dict[str, float]] = defaultdict(
        lambda: dict.fromkeys(COUNTERS, 0)
    )
    for response in session.scalars(
        workspace_scoped(select(Response), workspace_id).execution_options(yield_per=2000)
    ):
        key = (
            response.stage_id,
            response.touchpoint_id,
            local_day(response.submitted_at, timezone),
        )
        for name, value in response_counters(response, scales[response.stage_id]).items():
            rows[key][name] += value
    sent = workspace_scoped(
        select(Invitation.stage_id, Invitation.touchpoint_id, Invitation.sent_at).where(
            Invitation.sent_at.is_not(None)
        ),
        workspace_id,
    )
    for stage_id, touchpoint_id, sent_at in session.execute(sent):
        rows[(stage_id, touchpoint_id, local_day(sent_at, timezone))]["invitations_sent"] += 1
    session.execute(delete(StageDailyStat).where(StageDailyStat.workspace_id == workspace_id))
    if rows:
        session.execute(
            StageDailyStat.__table__.insert(),
            [
                {
                    "workspace_id": workspace_id,
                    "stage_id": s,
                    "touchpoint_id": t,
                    "day": d,
                    **counters,
                }
                for (s, t, d), counters in rows.items()
            ],
        )
    return len(rows)


@dataclass(frozen=True)
class StageSummary:
    """One stage's figures over a period, as the dashboard shows them."""

    stage: Stage
    responses: int
    invitations_sent: int
    average_rating: float | None
    mean_sentiment: float | None
    scored: int
    positive: int
    neutral: int
    negative: int
    unhappy: int
    nps: float | None

    def share(self, label: str) -> float:
        """The share of scored comments with this label, 0..1."""
        return getattr(self, label) / self.scored if self.scored else 0.0


def journey_summary(
    session: Session, workspace_id: int, first_day: dt.date, last_day: dt.date
) -> list[StageSummary]:
    """Every stage in journey order with its figures from `first_day` to `last_day`."""
    t = StageDailyStat
    sums = workspace_scoped(
        select(
            t.stage_id,
            *(func.coalesce(func.sum(getattr(t, name)), 0).label(name) for name in COUNTERS),
        )
        .where(t.day >= first_day, t.day <= last_day)
        .group_by(t.stage_id),
        workspace_id,
    )
    by_stage = {row.stage_id: row for row in session.execute(sums)}
    stages = session.scalars(
        workspace_scoped(select(Stage).order_by(Stage.position, Stage.id), workspace_id)
    )
    summaries = []
    for stage in stages:
        row = by_stage.get(stage.id)
        responses = int(row.responses) if row else 0
        scored = int(row.scored) if row else 0
        nps = None
        if stage.scale == "nps" and responses:
            nps = 100.0 * (int(row.promoters) - int(row.detractors)) / responses
        summaries.append(
            StageSummary(
                stage=stage,
                responses=responses,
                invitations_sent=int(row.invitations_sent) if row else 0,
                average_rating=(int(row.rating_sum) / responses) if responses else None,
                mean_sentiment=(float(row.compound_sum) / scored) if scored else None,
                scored=scored,
                positive=int(row.positive) if row else 0,
                neutral=int(row.neutral) if row else 0,
                negative=int(row.negative) if row else 0,
                unhappy=int(row.unhappy) if row else 0,
                nps=nps,
            )
        )
    return summaries
