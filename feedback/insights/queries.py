"""Read-only queries behind the owner pages."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from feedback.db import workspace_scoped
from feedback.insights.services import StageSummary
from feedback.surveys.models import Response

PER_PAGE = 25


@dataclass(frozen=True)
class ResponsesPage:
    items: list[Response]
    number: int
    total: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def responses_page(
    session: Session, workspace_id: int, page: int = 1, per_page: int = PER_PAGE
) -> ResponsesPage:
    """One page of the workspace's responses, newest first, with stage and touchpoint."""
    total = session.scalar(workspace_scoped(select(func.count(Response.id)), workspace_id)) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    stmt = workspace_scoped(
        select(Response)
        .options(joinedload(Response.stage), joinedload(Response.touchpoint))
        .order_by(Response.submitted_at.desc(), Response.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page),
        workspace_id,
    )
    return ResponsesPage(list(session.scalars(stmt)), page, total, per_page)


def weakest_stage(summaries: list[StageSummary]) -> StageSummary | None:
    """The stage whose comments read worst, among stages with enough to judge (3+)."""
    judged = [s for s in summaries if s.mean_sentiment is not None and s.scored >= 3]
    if len(judged) < 2:
        return None
    return min(judged, key=lambda s: s.mean_sentiment or 0.0)
