"""Owner pages: the journey dashboard and the responses list."""

from __future__ import annotations

import datetime as dt
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, abort, render_template, request, stream_with_context
from markupsafe import Markup
from sqlalchemy import select

from feedback import access, streaming, transactions
from feedback.accounts.auth import current_workspace
from feedback.db import utcnow, workspace_scoped
from feedback.extensions import db
from feedback.followups.services import follow_up_counts
from feedback.inputs import db_int
from feedback.insights import charts, exports, queries, services
from feedback.insights.forms import ResponseFilterForm
from feedback.insights.services import EARLIEST_DAY, LATEST_DAY, Period, local_day
from feedback.journey.models import CHANNELS, Stage
from feedback.journey.scales import is_mismatch
from feedback.journey.services import stages_in_order
from feedback.paging import PAGING_ARGS, usable_cursor

bp = Blueprint("insights", __name__)

PERIODS = (7, 30, 90)
DEFAULT_DAYS = 30
MAX_CUSTOM_DAYS = 3 * 366


@dataclass(frozen=True)
class DashboardQuery:
    """The dashboard's period and filter, as read from the query string."""

    period: Period
    days: int | None  # one of PERIODS, or None for a custom period
    channel: str | None
    touchpoint_id: int | None
    problem: str | None = None

    def args(self, **changes: Any) -> dict[str, Any]:
        """Query arguments for a link that keeps the rest of this query."""
        args: dict[str, Any] = (
            {"days": self.days}
            if self.days
            else {"from": self.period.first_day.isoformat(), "to": self.period.last_day.isoformat()}
        )
        if self.channel:
            args["channel"] = self.channel
        if self.touchpoint_id:
            args["touchpoint"] = self.touchpoint_id
        args.update(changes)
        if "from" in changes or "days" in changes:
            for key in ("days", "from", "to"):
                if key not in changes:
                    args.pop(key, None)
        return {k: v for k, v in args.items() if v is not None}


def dashboard_query(today: dt.date) -> DashboardQuery:
    """Period (7/30/90 days or a custom from/to) and filters, with a message for bad input."""
    args = request.args
    channel = args.get("channel") or None
    if channel not in (None, *CHANNELS):
        channel = None
    touchpoint_id = args.get("touchpoint", type=db_int)
    problem = None
    if args.get("from") or args.get("to"):
        try:
            first = dt.date.fromisoformat(args.get("from", ""))
            last = dt.date.fromisoformat(args.get("to", ""))
            if last < first:
                raise ValueError("the end is before the start")
            if first < EARLIEST_DAY or last > LATEST_DAY:
                raise ValueError(f"dates from {EARLIEST_DAY.year} to {LATEST_DAY.year} only")
            if (last - first).days >= MAX_CUSTOM_DAYS:
                raise ValueError(f"at most {MAX_CUSTOM_DAYS} days")
        except ValueError as error:
            problem = f"That period could not be used ({error}); showing the last 30 days."
        else:
            return DashboardQuery(Period(first, last), None, channel, touchpoint_id)
    days = args.get("days", default=DEFAULT_DAYS, type=db_int)
    if days not in PERIODS:
        days = DEFAULT_DAYS
    return DashboardQuery(Period.ending(today, days), days, channel, touchpoint_id, problem)


@bp.get("/dashboard")
@access.member
def dashboard() -> str:
    """The journey: one card per stage in journey order, beside the period before."""
    workspace = current_workspace()
    query = dashboard_query(local_day(utcnow(), workspace.timezone))
    touchpoint_ids = services.touchpoints_matching(
        db.session, workspace.id, channel=query.channel, touchpoint_id=query.touchpoint_id
    )
    trends = services.journey_trends(db.session, workspace.id, query.period, touchpoint_ids)
    weakest = queries.weakest_stage([t.now for t in trends])
    follow_ups = follow_up_counts(db.session, workspace.id, utcnow())
    return render_template(
        "insights/dashboard.html",
        workspace=workspace,
        query=query,
        trends=trends,
        periods=PERIODS,
        channels=CHANNELS,
        stages=stages_in_order(db.session, workspace.id),
        weakest=next((t for t in trends if weakest and t.stage.id == weakest.stage.id), None),
        follow_ups=follow_ups,
    )


@bp.get("/stages/<key>")
@access.member
def stage(key: str) -> str:
    """One stage: its weekly trend, its touchpoints, what customers say, the latest answers."""
    workspace = current_workspace()
    found = db.session.scalar(workspace_scoped(select(Stage).where(Stage.key == key), workspace.id))
    if found is None:
        abort(404)
    query = dashboard_query(local_day(utcnow(), workspace.timezone))
    touchpoint_ids = services.touchpoints_matching(
        db.session, workspace.id, channel=query.channel, touchpoint_id=query.touchpoint_id
    )
    [trend] = [
        t
        for t in services.journey_trends(db.session, workspace.id, query.period, touchpoint_ids)
        if t.stage.id == found.id
    ]
    weeks = queries.stage_weeks(db.session, workspace.id, found.id, query.period, touchpoint_ids)
    breakdown = queries.touchpoint_breakdown(
        db.session, workspace.id, found, query.period, touchpoint_ids
    )
    terms = [
        queries.frequent_terms(
            db.session,
            workspace.id,
            found.id,
            query.period,
            workspace.timezone,
            label,
            touchpoint_ids,
        )
        for label in ("negative", "positive")
    ]
    latest = queries.latest_responses(
        db.session, workspace.id, found.id, query.period, workspace.timezone, touchpoint_ids
    )
    return render_template(
        "insights/stage.html",
        workspace=workspace,
        stage=found,
        query=query,
        periods=PERIODS,
        trend=trend,
        charts=stage_charts(found, weeks, breakdown),
        breakdown=breakdown,
        terms=terms,
        latest=latest,
        is_mismatch=is_mismatch,
    )


def stage_charts(
    stage: Stage, weeks: list[queries.WeekFigures], breakdown: list[queries.TouchpointFigures]
) -> dict[str, Markup]:
    labels = [week.first_day.strftime("%d %b") for week in weeks]
    scale = stage.rating_scale
    return {
        "sentiment": charts.line_chart(
            title=f"{stage.name}: mean sentiment by week (-1 to +1)",
            labels=labels,
            series=[charts.Series("Mean sentiment", [w.mean_sentiment for w in weeks])],
            low=-1.0,
            high=1.0,
            fmt=lambda v: f"{v:+.2f}",
            zero_line=True,
        ),
        "rating": charts.line_chart(
            title=f"{stage.name}: average rating by week ({scale.low} to {scale.high})",
            labels=labels,
            series=[charts.Series("Average rating", [w.average_rating for w in weeks], "s2")],
            low=float(scale.low),
            high=float(scale.high),
            fmt=lambda v: f"{v:.1f}",
        ),
        "touchpoints": charts.bar_chart(
            title=f"{stage.name}: mean sentiment by touchpoint",
            bars=[(f.touchpoint.name, f.summary.mean_sentiment) for f in breakdown],
            low=-1.0,
            high=1.0,
        ),
    }


def response_filters() -> tuple[ResponseFilterForm, queries.ResponseFilters]:
    """The list's filters from the query string; invalid ones are shown and left out."""
    form = ResponseFilterForm(request.args)
    form.set_journey(stages_in_order(db.session, current_workspace().id))
    if not request.args:
        return form, queries.ResponseFilters()
    form.validate()

    def ok(field: Any) -> Any:
        return field.data if not field.errors else None

    since, until = ok(form.since), ok(form.until)
    period = None
    if since or until:
        period = Period(since or EARLIEST_DAY, until or LATEST_DAY)
    text = (ok(form.q) or "").strip()
    return form, queries.ResponseFilters(
        stage=ok(form.stage) or None,
        touchpoint_id=int(form.touchpoint.data) if ok(form.touchpoint) else None,
        label=ok(form.label) or None,
        rating_min=ok(form.rating_min),
        rating_max=ok(form.rating_max),
        opted_in=bool(form.opted_in.data),
        mismatch=bool(form.mismatch.data),
        period=period,
        text=text or None,
    )


@bp.get("/responses")
@access.member
def responses() -> tuple[str, int]:
    """Responses newest first, narrowed by any combination of filters, a page at a time."""
    workspace = current_workspace()
    form, filters = response_filters()
    cursor, bad_cursor = usable_cursor(request.args, queries.CURSOR_KINDS)
    page = queries.responses_page(
        db.session, workspace.id, cursor, filters=filters, timezone=workspace.timezone
    )
    args = {k: v for k, v in request.args.items() if k not in PAGING_ARGS and v}
    status = 422 if form.errors else 400 if bad_cursor else 200
    return render_template(
        "insights/responses.html",
        workspace=workspace,
        page=page,
        form=form,
        filtered=filters != queries.ResponseFilters(),
        args=args,
        bad_cursor=bad_cursor,
        is_mismatch=is_mismatch,
    ), status


@bp.get("/responses/<int:response_id>")
@access.member
def response_detail(response_id: int) -> str:
    """One response in full: the answer, its scores, who gave it, its link and its consent."""
    workspace = current_workspace()
    found = queries.response_detail(db.session, workspace.id, response_id)
    if found is None:
        abort(404)
    scale = found.stage.rating_scale
    return render_template(
        "insights/response.html",
        workspace=workspace,
        response=found,
        invitation=found.invitation,
        scale=scale,
        unhappy=scale.is_low(found.rating),
        mismatch=is_mismatch(
            found.rating, found.stage.scale, found.sentiment_label, found.sentiment_compound
        ),
    )


def _csv_download(lines: Iterator[str], name: str) -> Response:
    response = Response(stream_with_context(streaming.alive_while(lines)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@bp.get("/export/responses.csv")
@access.owner
def export_responses() -> Response:
    """The responses of the list's current filters, as CSV, streamed."""
    workspace = current_workspace()
    _, filters = response_filters()
    lines = exports.responses_csv(db.session, workspace.id, filters, workspace.timezone)
    return _csv_download(lines, f"{workspace.slug}-responses.csv")


@bp.get("/export/testimonials.csv")
@access.owner
def export_testimonials() -> Response:
    """Approved and featured testimonials of the current filters, as CSV, streamed.

    Each exported testimonial is recorded as used on "export", committed once
    the whole file has gone out (a download broken off midway records nothing).
    """
    workspace = current_workspace()
    _, filters = response_filters()
    now = utcnow()
    exported: array[int] = array("q")
    lines = exports.testimonials_csv(
        db.session, workspace.id, filters, workspace.timezone, exported
    )

    workspace_id = workspace.id  # read now: the request's commit expires the object

    def then_record() -> Iterator[str]:
        # Streamed after the request's transaction ended: this body owns its own.
        yield from lines
        transactions.commit_now("ends the reading transaction; the uses get one of their own")
        exports.record_export_uses(db.session, workspace_id, exported, now)
        transactions.commit_now("the uses of a file that went out whole")

    return _csv_download(then_record(), f"{workspace.slug}-testimonials.csv")
