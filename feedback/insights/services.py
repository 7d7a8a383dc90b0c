"""The stage/day rollup: kept current with every response, read by the dashboard."""

from __future__ import annotations

import datetime as dt
import functools
from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Row, and_, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from feedback.accounts.models import Workspace
from feedback.db import workspace_scoped
from feedback.insights.models import StageDailyStat
from feedback.journey.models import Stage, Touchpoint
from feedback.journey.scales import (
    CLEARLY_NEGATIVE,
    CLEARLY_POSITIVE,
    SCALES,
    high_rating_from,
    is_unhappy,
)
from feedback.surveys.models import Invitation, Response
from feedback.testimonials.wall import AggregateRating

COUNTERS = (
    "invitations_sent",
    "responses",
    "answered",
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


def response_counters(
    response: Response | Row[*tuple[Any, ...]], scale_key: str
) -> dict[str, float]:
    """What one response adds to its stage's day."""
    scale = SCALES[scale_key]
    counters: dict[str, float] = {
        "responses": 1,
        "answered": int(response.invitation_id is not None),
        "rating_sum": response.rating,
        "unhappy": int(is_unhappy(scale_key, response.rating, response.sentiment_label)),
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
    params: dict[str, Any] = dict.fromkeys(COUNTERS, 0)
    params.update(counters)
    params.update(
        workspace_id=workspace_id, stage_id=stage_id, touchpoint_id=touchpoint_id, day=day
    )
    connection = session.connection()
    connection.execute(_rollup_upsert(connection.dialect.name), params)


def count_sends(
    session: Session, sent: Sequence[Row[tuple[int, int, int]]], now: dt.datetime
) -> None:
    """Count invitations that just went out in their days' rollups.

    `sent` holds each one's (workspace_id, stage_id, touchpoint_id), as
    `surveys.services.mark_invitations_sent` returns them: a few statements
    for any number of invitations.
    """
    if not sent:
        return
    workspaces = Workspace.__table__
    timezones = dict(
        session.execute(
            select(workspaces.c.id, workspaces.c.timezone).where(
                workspaces.c.id.in_({row.workspace_id for row in sent})
            )
        ).all()
    )
    counts = Counter((row.workspace_id, row.stage_id, row.touchpoint_id) for row in sent)
    for (workspace_id, stage_id, touchpoint_id), count in counts.items():
        bump_rollup(
            session,
            workspace_id=workspace_id,
            stage_id=stage_id,
            touchpoint_id=touchpoint_id,
            day=local_day(now, timezones[workspace_id]),
            counters={"invitations_sent": count},
        )


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
    # Plain rows of the columns needed, streamed: a rebuild reads every response once.
    stmt = workspace_scoped(
        select(
            Response.stage_id,
            Response.touchpoint_id,
            Response.invitation_id,
            Response.submitted_at,
            Response.rating,
            Response.testimonial_opt_in,
            Response.sentiment_label,
            Response.sentiment_compound,
        ),
        workspace_id,
    ).execution_options(yield_per=5000)
    zone = ZoneInfo(timezone)
    for response in session.execute(stmt):
        key = (
            response.stage_id,
            response.touchpoint_id,
            response.submitted_at.astimezone(zone).date(),
        )
        counters = rows[key]
        for name, value in response_counters(response, scales[response.stage_id]).items():
            counters[name] += value
    sent = workspace_scoped(
        select(Invitation.stage_id, Invitation.touchpoint_id, Invitation.sent_at).where(
            Invitation.sent_at.is_not(None)
        ),
        workspace_id,
    )
    for stage_id, touchpoint_id, sent_at in session.execute(sent):
        assert sent_at is not None  # the query's own condition
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


# The days a period may cover: wide enough for any real question, and safe
# for date arithmetic (a year-1 date minus a day does not exist).
EARLIEST_DAY = dt.date(2000, 1, 1)
LATEST_DAY = dt.date(2100, 12, 31)


@dataclass(frozen=True)
class Period:
    """A run of whole days on the workspace's calendar, both ends included."""

    first_day: dt.date
    last_day: dt.date

    @classmethod
    def ending(cls, last_day: dt.date, days: int) -> Period:
        return cls(last_day - dt.timedelta(days=days - 1), last_day)

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period.ending(self.first_day - dt.timedelta(days=1), self.days)


@dataclass(frozen=True)
class StageSummary:
    """One stage's figures over a period, as the dashboard shows them."""

    stage: Stage
    responses: int
    answered: int
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

    @property
    def response_rate(self) -> float | None:
        """Personal links answered per survey sent, 0..1 (open-link answers not counted)."""
        if not self.invitations_sent:
            return None
        return min(1.0, self.answered / self.invitations_sent)


def journey_summary(
    session: Session,
    workspace_id: int,
    first_day: dt.date,
    last_day: dt.date,
    touchpoint_ids: Collection[int] | None = None,
) -> list[StageSummary]:
    """Every stage in journey order with its figures from `first_day` to `last_day`.

    Read from the rollup only (one grouped query over at most stages x
    touchpoints x days rows), so the cost does not grow with the responses.
    `touchpoint_ids` narrows every figure to those touchpoints.
    """
    t = StageDailyStat
    sums = select(
        t.stage_id,
        *(func.coalesce(func.sum(getattr(t, name)), 0).label(name) for name in COUNTERS),
    ).where(t.day >= first_day, t.day <= last_day)
    if touchpoint_ids is not None:
        sums = sums.where(t.touchpoint_id.in_(list(touchpoint_ids)))
    by_stage = {
        row.stage_id: row
        for row in session.execute(workspace_scoped(sums.group_by(t.stage_id), workspace_id))
    }
    stages = session.scalars(
        workspace_scoped(select(Stage).order_by(Stage.position, Stage.id), workspace_id)
    )
    return [summary_of(stage, by_stage.get(stage.id)) for stage in stages]


def summary_of(stage: Stage, row: Row[Any] | None) -> StageSummary:
    """Figures from one row of summed rollup counters (None: nothing in the period)."""

    def count(name: str) -> int:
        return int(getattr(row, name)) if row is not None else 0

    responses, scored = count("responses"), count("scored")
    nps = None
    if stage.scale == "nps" and responses:
        nps = 100.0 * (count("promoters") - count("detractors")) / responses
    return StageSummary(
        stage=stage,
        responses=responses,
        answered=count("answered"),
        invitations_sent=count("invitations_sent"),
        average_rating=count("rating_sum") / responses if responses else None,
        mean_sentiment=float(row.compound_sum) / scored if row is not None and scored else None,
        scored=scored,
        positive=count("positive"),
        neutral=count("neutral"),
        negative=count("negative"),
        unhappy=count("unhappy"),
        nps=nps,
    )


@dataclass(frozen=True)
class StageTrend:
    """A stage's figures in a period and in the period of the same length before it."""

    now: StageSummary
    before: StageSummary

    @property
    def stage(self) -> Stage:
        return self.now.stage

    def change(self, figure: str) -> float | None:
        """How much a figure (e.g. "mean_sentiment", "nps") moved; None if either is unknown."""
        now, before = getattr(self.now, figure), getattr(self.before, figure)
        if now is None or before is None:
            return None
        return float(now - before)


def journey_trends(
    session: Session,
    workspace_id: int,
    period: Period,
    touchpoint_ids: Collection[int] | None = None,
) -> list[StageTrend]:
    """Every stage's figures over `period`, beside those of the period before it."""
    now = journey_summary(session, workspace_id, period.first_day, period.last_day, touchpoint_ids)
    previous = period.previous()
    before = journey_summary(
        session, workspace_id, previous.first_day, previous.last_day, touchpoint_ids
    )
    return [StageTrend(a, b) for a, b in zip(now, before, strict=True)]


def touchpoints_matching(
    session: Session, workspace_id: int, *, channel: str | None, touchpoint_id: int | None
) -> list[int] | None:
    """The touchpoint ids a dashboard filter keeps, or None for no filter."""
    if channel is None and touchpoint_id is None:
        return None
    stmt = select(Touchpoint.id)
    if channel is not None:
        stmt = stmt.where(Touchpoint.channel == channel)
    if touchpoint_id is not None:
        stmt = stmt.where(Touchpoint.id == touchpoint_id)
    return list(session.scalars(workspace_scoped(stmt, workspace_id)))


# -- rating / comment mismatch --------------------------------------------------
# The rule itself (`journey.scales.is_mismatch`) sits with the scales, below
# the surveys that store it on every response; this is its SQL twin.


def mismatch_clause() -> ColumnElement[bool]:
    """`is_mismatch` as SQL over Response joined to its Stage (for filtering lists)."""
    high = or_(
        *((Stage.scale == key) & (Response.rating >= high_rating_from(key)) for key in SCALES)
    )
    low = or_(
        *(
            (Stage.scale == key) & (Response.rating <= scale.unhappy_at_most)
            for key, scale in SCALES.items()
        )
    )
    return or_(
        high
        & (Response.sentiment_label == "negative")
        & (Response.sentiment_compound <= CLEARLY_NEGATIVE),
        low
        & (Response.sentiment_label == "positive")
        & (Response.sentiment_compound >= CLEARLY_POSITIVE),
    )


def aggregate_rating(
    session: Session, workspace_id: int, stage_key: str | None = None
) -> AggregateRating:
    """The mean of ALL responses in scope on 1-5 (not only the approved ones), with the count.

    Read from the stage/day rollup. Stages rate on different scales, so each
    stage's sum is mapped onto 1-5 before the stages are combined (the mapping
    is linear, so mapping the sum equals summing the mapped ratings).
    """
    stmt = (
        select(
            Stage.scale,
            func.sum(StageDailyStat.responses),
            func.sum(StageDailyStat.rating_sum),
        )
        .join(
            Stage,
            and_(Stage.id == StageDailyStat.stage_id, Stage.workspace_id == workspace_id),
        )
        .where(StageDailyStat.workspace_id == workspace_id)
        .group_by(Stage.id, Stage.scale)
    )
    if stage_key is not None:
        stmt = stmt.where(Stage.key == stage_key)
    count = 0
    total = 0.0
    for scale_key, responses, rating_sum in session.execute(workspace_scoped(stmt, workspace_id)):
        if not responses:
            continue
        scale = SCALES[scale_key]
        # sum of (1 + 4 * (r - low) / (high - low)) over the stage's responses
        total += responses + 4 * (rating_sum - scale.low * responses) / (scale.high - scale.low)
        count += responses
    return AggregateRating(round(total / count, 1) if count else None, count)
