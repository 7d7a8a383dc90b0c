"""Read-only queries behind the owner pages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select, true
from sqlalchemy.orm import Session, joinedload

from feedback.db import workspace_scoped
from feedback.insights.models import StageDailyStat
from feedback.insights.search import narrow_to_text
from feedback.insights.services import (
    COUNTERS,
    Period,
    StageSummary,
    summary_of,
)
from feedback.insights.terms import count_terms
from feedback.journey.models import Stage, Touchpoint
from feedback.paging import (
    COUNT_CAP,
    Cursor,
    KeysetPage,
    Segment,
    capped_count,
    id_key,
    keys_page,
    keyset_page,
    time_key,
)
from feedback.surveys.models import Response

PER_PAGE = 25
# What a responses cursor holds: the row's submitted_at, then its id.
CURSOR_KINDS = (time_key, id_key)


@dataclass(frozen=True)
class ResponseFilters:
    """What the responses list and its export are narrowed to; all of them combine."""

    stage: str | None = None
    touchpoint_id: int | None = None
    label: str | None = None
    rating_min: int | None = None
    rating_max: int | None = None
    opted_in: bool = False
    mismatch: bool = False
    period: Period | None = None
    text: str | None = None

    @property
    def search_alone(self) -> bool:
        """A text search with no other filter (its plans differ: see `responses_page`)."""
        return bool(self.text) and self == ResponseFilters(text=self.text)


def filtered_responses(
    workspace_id: int, filters: ResponseFilters, timezone: str, *, in_time_order: bool = False
) -> Select[Response]:
    """The workspace's responses that pass every filter (Response joined to its Stage).

    `in_time_order`: the statement will be read newest first, a page at a
    time, so no filter may lead the planner to an index out of that order.
    """
    stmt = select(Response).join(Stage, Stage.id == Response.stage_id)
    if filters.stage:
        # By id, so the (workspace, stage, time) index serves it directly.
        stmt = stmt.where(
            Response.stage_id.in_(
                select(Stage.id).where(
                    Stage.workspace_id == workspace_id, Stage.key == filters.stage
                )
            )
        )
    if filters.touchpoint_id is not None:
        stmt = stmt.where(Response.touchpoint_id == filters.touchpoint_id)
    if filters.label == "none":
        stmt = stmt.where(Response.sentiment_label.is_(None))
    elif filters.label:
        stmt = stmt.where(Response.sentiment_label == filters.label)
    # A rating range spans several runs of the (workspace, rating, time) index:
    # fine for counting, but read in time order it means sorting every answer
    # in the range. `rating + 0` keeps the planner off that index, so it walks
    # the time order (or another filter's index) and checks the rating row by row.
    rating = Response.rating + 0 if in_time_order else Response.rating
    if filters.rating_min is not None:
        stmt = stmt.where(rating >= filters.rating_min)
    if filters.rating_max is not None:
        stmt = stmt.where(rating <= filters.rating_max)
    if filters.opted_in:
        # Written as the partial index's condition, so both databases match the two.
        stmt = stmt.where(Response.testimonial_opt_in == true())
    if filters.mismatch:
        # The stored flag (kept by submit and rescore) has its own index; the
        # expression over rating, scale and label can only be checked row by row.
        stmt = stmt.where(Response.mismatch == true())
    if filters.period is not None:
        start, end = period_bounds(filters.period, timezone)
        stmt = stmt.where(Response.submitted_at >= start, Response.submitted_at < end)
    if filters.text:
        stmt = narrow_to_text(
            stmt, filters.text, in_time_order=in_time_order, alone=filters.search_alone
        )
    return workspace_scoped(stmt, workspace_id)


def responses_page(
    session: Session,
    workspace_id: int,
    cursor: Cursor | None = None,
    per_page: int = PER_PAGE,
    filters: ResponseFilters | None = None,
    timezone: str = "UTC",
) -> KeysetPage[Response]:
    """One page of the responses passing `filters`, newest first, with stage and touchpoint.

    Paged by (submitted_at, id) from `cursor`; the total is counted up to
    COUNT_CAP + 1 only.
    """
    filters = filters or ResponseFilters()
    stmt = filtered_responses(workspace_id, filters, timezone)
    keys: list[tuple[dt.datetime, int]] | None = None
    if filters.text and not filters.search_alone:
        # A search with other filters: the keys at once (counting first would
        # find the same matches twice).
        keys = matching_keys(session, workspace_id, stmt)
        total = len(keys)
    else:
        # A search alone is counted first, the cheaper read when it matches
        # many: no keys to carry out of the database.
        total = capped_count(
            session, stmt.with_only_columns(Response.id), (Response.workspace_id, workspace_id)
        )
        if filters.text and total <= COUNT_CAP:
            keys = matching_keys(session, workspace_id, stmt) if total else []
    if keys is not None and total <= COUNT_CAP:
        return keys_page(
            sorted(keys, reverse=True),
            cursor,
            per_page,
            lambda ids: responses_by_id(session, workspace_id, ids),
        )
    ordered = filtered_responses(workspace_id, filters, timezone, in_time_order=True)
    segment: Segment[Response] = Segment(
        "responses",
        ordered.options(joinedload(Response.stage), joinedload(Response.touchpoint)),
        (Response.submitted_at, Response.id),
        True,
        lambda r: (r.submitted_at, r.id),
    )
    return keyset_page([segment], cursor, per_page, session.scalars, total)


def matching_keys(
    session: Session, workspace_id: int, stmt: Select[Response]
) -> list[tuple[dt.datetime, int]]:
    """The (submitted_at, id) of the responses `stmt` selects, in no order, up to COUNT_CAP + 1.

    For a text search. Read in time order, a search combined with filters that exclude most
    of its matches walks every row the filters leave (a second at 1,000,000
    responses on PostgreSQL, which expects a match every few rows); read in
    any order, both databases find the matches by the search and the filters'
    own indexes, and stop at the cap. At or under the cap these keys are the
    whole list: its exact total and, sorted, its pages.
    """
    limited = (
        stmt.with_only_columns(Response.submitted_at, Response.id)
        .where(Response.workspace_id == workspace_id)
        .order_by(None)
        .limit(COUNT_CAP + 1)
    )
    return [(submitted_at, id_) for submitted_at, id_ in session.execute(limited)]


def responses_by_id(session: Session, workspace_id: int, ids: list[int]) -> dict[int, Response]:
    """The workspace's responses with these ids, with stage and touchpoint, by id."""
    if not ids:
        return {}
    stmt = (
        select(Response)
        .where(Response.id.in_(ids))
        .options(joinedload(Response.stage), joinedload(Response.touchpoint))
    )
    return {r.id: r for r in session.scalars(workspace_scoped(stmt, workspace_id))}


def response_detail(session: Session, workspace_id: int, response_id: int) -> Response | None:
    """One response of the workspace with its stage, touchpoint, customer, link and consent."""
    return session.scalar(
        workspace_scoped(
            select(Response)
            .where(Response.id == response_id)
            .options(
                joinedload(Response.stage),
                joinedload(Response.touchpoint),
                joinedload(Response.contact),
                joinedload(Response.invitation),
                joinedload(Response.testimonial),
            ),
            workspace_id,
        )
    )


def weakest_stage(summaries: list[StageSummary]) -> StageSummary | None:
    """The stage whose comments read worst, among stages with enough to judge (3+)."""
    judged = [s for s in summaries if s.mean_sentiment is not None and s.scored >= 3]
    if len(judged) < 2:
        return None
    return min(judged, key=lambda s: s.mean_sentiment or 0.0)


# -- one stage ------------------------------------------------------------------

TREND_WEEKS = 12
MAX_TREND_WEEKS = 104
TERM_SAMPLE = 500  # comments read per label for the frequent words: the newest ones


@dataclass(frozen=True)
class WeekFigures:
    first_day: dt.date  # the Monday
    responses: int
    average_rating: float | None
    mean_sentiment: float | None


def week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def stage_weeks(
    session: Session,
    workspace_id: int,
    stage_id: int,
    period: Period,
    touchpoint_ids: Collection[int] | None = None,
) -> list[WeekFigures]:
    """Week by week (Monday to Sunday, the workspace's days) up to the end of the period.

    At least the last TREND_WEEKS weeks, more if the period is longer; from
    the rollup, so a week costs at most 7 x touchpoints rows.
    """
    last_week = week_start(period.last_day)
    first_week = min(week_start(period.first_day), last_week - dt.timedelta(weeks=TREND_WEEKS - 1))
    first_week = max(first_week, last_week - dt.timedelta(weeks=MAX_TREND_WEEKS - 1))
    t = StageDailyStat
    stmt = (
        select(
            t.day,
            func.sum(t.responses),
            func.sum(t.rating_sum),
            func.sum(t.scored),
            func.sum(t.compound_sum),
        )
        .where(t.stage_id == stage_id, t.day >= first_week, t.day <= period.last_day)
        .group_by(t.day)
    )
    if touchpoint_ids is not None:
        stmt = stmt.where(t.touchpoint_id.in_(list(touchpoint_ids)))
    totals: dict[dt.date, list[float]] = {}
    for day, responses, rating_sum, scored, compound_sum in session.execute(
        workspace_scoped(stmt, workspace_id)
    ):
        week = totals.setdefault(week_start(day), [0, 0, 0, 0.0])
        week[0] += responses or 0
        week[1] += rating_sum or 0
        week[2] += scored or 0
        week[3] += compound_sum or 0.0
    weeks = []
    monday = first_week
    while monday <= last_week:
        week_responses, week_rating_sum, week_scored, week_compound_sum = totals.get(
            monday, [0, 0, 0, 0.0]
        )
        weeks.append(
            WeekFigures(
                first_day=monday,
                responses=int(week_responses),
                average_rating=week_rating_sum / week_responses if week_responses else None,
                mean_sentiment=week_compound_sum / week_scored if week_scored else None,
            )
        )
        monday += dt.timedelta(weeks=1)
    return weeks


@dataclass(frozen=True)
class TouchpointFigures:
    touchpoint: Touchpoint
    summary: StageSummary


def touchpoint_breakdown(
    session: Session,
    workspace_id: int,
    stage: Stage,
    period: Period,
    touchpoint_ids: Collection[int] | None = None,
) -> list[TouchpointFigures]:
    """The stage's figures split by touchpoint, worst mean sentiment first."""
    t = StageDailyStat
    stmt = (
        select(
            t.touchpoint_id,
            *(func.coalesce(func.sum(getattr(t, name)), 0).label(name) for name in COUNTERS),
        )
        .where(t.stage_id == stage.id, t.day >= period.first_day, t.day <= period.last_day)
        .group_by(t.touchpoint_id)
    )
    if touchpoint_ids is not None:
        stmt = stmt.where(t.touchpoint_id.in_(list(touchpoint_ids)))
    rows = {row.touchpoint_id: row for row in session.execute(workspace_scoped(stmt, workspace_id))}
    figures = [
        TouchpointFigures(touchpoint, summary_of(stage, rows.get(touchpoint.id)))
        for touchpoint in stage.touchpoints
        if touchpoint_ids is None or touchpoint.id in touchpoint_ids
    ]
    return sorted(
        figures,
        key=lambda f: (
            f.summary.mean_sentiment is None,
            f.summary.mean_sentiment or 0.0,
            f.touchpoint.name,
        ),
    )


def period_bounds(period: Period, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """The UTC moments where the period's first local day starts and its last one ends."""
    zone = ZoneInfo(timezone)
    start = dt.datetime.combine(period.first_day, dt.time(), zone)
    end = dt.datetime.combine(period.last_day + dt.timedelta(days=1), dt.time(), zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def _stage_responses(
    workspace_id: int,
    stage_id: int,
    period: Period,
    timezone: str,
    touchpoint_ids: Collection[int] | None,
) -> Select[Response]:
    start, end = period_bounds(period, timezone)
    stmt = select(Response).where(
        Response.stage_id == stage_id, Response.submitted_at >= start, Response.submitted_at < end
    )
    if touchpoint_ids is not None:
        stmt = stmt.where(Response.touchpoint_id.in_(list(touchpoint_ids)))
    return workspace_scoped(stmt, workspace_id)


def latest_responses(
    session: Session,
    workspace_id: int,
    stage_id: int,
    period: Period,
    timezone: str,
    touchpoint_ids: Collection[int] | None = None,
    limit: int = 10,
) -> list[Response]:
    stmt = (
        _stage_responses(workspace_id, stage_id, period, timezone, touchpoint_ids)
        .options(joinedload(Response.touchpoint))
        .order_by(Response.submitted_at.desc(), Response.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


@dataclass(frozen=True)
class FrequentTerms:
    label: str
    comments: int  # how many comments were read
    words: list[tuple[str, int]]
    phrases: list[tuple[str, int]]


def frequent_terms(
    session: Session,
    workspace_id: int,
    stage_id: int,
    period: Period,
    timezone: str,
    label: str,
    touchpoint_ids: Collection[int] | None = None,
    top: int = 10,
) -> FrequentTerms:
    """The most frequent words and two-word phrases in the period's comments with `label`.

    Reads the newest TERM_SAMPLE such comments (an index range, not a scan),
    so the page costs the same at any number of responses.
    """
    stmt = (
        _stage_responses(workspace_id, stage_id, period, timezone, touchpoint_ids)
        .with_only_columns(Response.comment)
        .where(Response.sentiment_label == label)
        .order_by(Response.submitted_at.desc())
        .limit(TERM_SAMPLE)
    )
    comments = [c for c in session.scalars(stmt) if c]
    words, phrases = count_terms(comments)
    return FrequentTerms(label, len(comments), words.most_common(top), phrases.most_common(top))
