"""Owner pages: the journey dashboard and the responses list."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, render_template, request

from feedback.accounts.auth import current_workspace, workspace_required
from feedback.db import utcnow
from feedback.extensions import db
from feedback.insights import queries
from feedback.insights.services import journey_summary, local_day

bp = Blueprint("insights", __name__)

PERIODS = (7, 30, 90)


@bp.get("/dashboard")
@workspace_required
def dashboard() -> str:
    """One card per stage, in journey order, over the chosen period."""
    workspace = current_workspace()
    days = request.args.get("days", default=30, type=int)
    if days not in PERIODS:
        days = 30
    last_day = local_day(utcnow(), workspace.timezone)
    first_day = last_day - dt.timedelta(days=days - 1)
    summaries = journey_summary(db.session, workspace.id, first_day, last_day)
    return render_template(
        "insights/dashboard.html",
        workspace=workspace,
        summaries=summaries,
        days=days,
        periods=PERIODS,
        first_day=first_day,
        last_day=last_day,
        weakest=queries.weakest_stage(summaries),
    )


@bp.get("/responses")
@workspace_required
def responses() -> str:
    """Every response, newest first, a page at a time."""
    workspace = current_workspace()
    page = queries.responses_page(
        db.session, workspace.id, page=request.args.get("page", default=1, type=int)
    )
    return render_template("insights/responses.html", workspace=workspace, page=page)
