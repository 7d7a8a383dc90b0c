"""Testimonials: consent recorded exactly as the customer saw it, excerpts, moderation."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, joinedload

from feedback.db import Paging, insert_complete_row, workspace_scoped
from feedback.insights.terms import STOP_WORDS, words_of
from feedback.surveys.models import Response
from feedback.testimonials.models import Testimonial


class ConsentSource(Protocol):
    """What consent is recorded from: a workspace, or the copy a survey link carries."""

    id: int
    consent_text: str
    consent_version: int


def consent_text_for(workspace: ConsentSource) -> str:
    """The consent text the form shows; the same string is stored on the record."""
    return workspace.consent_text


def record_consent(
    session: Session,
    workspace: ConsentSource,
    response: Response,
    display_name: str | None,
    now: dt.datetime,
) -> Testimonial:
    """The consent record for a response whose customer ticked "you may quote me"."""
    testimonial = Testimonial(
        workspace_id=workspace.id,
        response_id=response.id,
        display_name=display_name,
        show_name=display_name is not None,
        consent_text=consent_text_for(workspace),
        consent_version=workspace.consent_version,
        consented_at=now,
        status="pending",
        excerpt=None,
        approved_by_id=None,
        approved_at=None,
        withdrawn_at=None,
    )
    return insert_complete_row(session, testimonial)


# --- Excerpts -------------------------------------------------------------------------------

ELLIPSIS = "\u2026"


class ExcerptError(ValueError):
    """An excerpt that is not the customer's own words, cut but unchanged."""


def check_excerpt(original: str, excerpt: str) -> str:
    """The excerpt, normalised, if it only cuts the original; else `ExcerptError`.

    Cuts are marked with "…" ("..." is accepted and becomes "…"). The pieces
    between the marks must each appear verbatim in the original, in the same
    order, without overlapping; case and every character inside a piece must
    match exactly, only whitespace at a piece's ends may differ. Whatever the
    owner typed is returned with "..." turned into "…" and outer whitespace
    trimmed.
    """
    normalised = excerpt.replace("...", ELLIPSIS).strip()
    pieces = [piece.strip() for piece in normalised.split(ELLIPSIS)]
    pieces = [piece for piece in pieces if piece]
    if not pieces:
        raise ExcerptError(
            "An excerpt needs some of the customer's words; leave it empty to clear it."
        )
    position = 0
    for index, piece in enumerate(pieces):
        found = original.find(piece, position)
        if found < 0:
            if index > 0 and piece in original:
                raise ExcerptError(
                    "An excerpt may only cut the customer's words, not change them: "
                    f"'{piece}' does not come after '{pieces[index - 1]}' in the original"
                )
            raise ExcerptError(
                "An excerpt may only cut the customer's words, not change them: "
                f"'{piece}' not found in the original"
            )
        # Taking the earliest match leaves the most room for the pieces after it.
        position = found + len(piece)
    return normalised


# --- Moderation -----------------------------------------------------------------------------

SHOWS = ("pending", "approved", "featured", "rejected", "withdrawn", "all")
PER_PAGE = 25
# Suggested-first ordering scores this many of the newest pending testimonials.
SUGGEST_POOL = 1000


class ModerationError(Exception):
    """Something an owner asked of a testimonial that cannot be done."""


class TestimonialNotFound(ModerationError):
    """No such testimonial in this workspace."""


class WithdrawnTestimonial(ModerationError):
    """The customer withdrew consent; the testimonial can no longer be shown."""


@dataclass(frozen=True)
class ModerationPage(Paging):
    items: list[Testimonial]
    show: str
    number: int
    total: int
    per_page: int
    suggested_first: bool


def _loaded() -> Select[tuple[Testimonial]]:
    return select(Testimonial).options(
        joinedload(Testimonial.response).joinedload(Response.stage),
        joinedload(Testimonial.response).joinedload(Response.touchpoint),
    )


def _shown(stmt: Select[tuple[Testimonial]], show: str) -> Select[tuple[Testimonial]]:
    if show == "withdrawn":
        return stmt.where(Testimonial.withdrawn_at.is_not(None))
    if show == "all":
        return stmt
    return stmt.where(Testimonial.status == show, Testimonial.withdrawn_at.is_(None))


def suggestion_score(testimonial: Testimonial) -> float:
    """How good a quote this testimonial would make, from 0 to 1; higher first.

    score = 0.40 * sentiment + 0.25 * specificity + 0.15 * length + 0.20 * rating

    - sentiment: VADER compound mapped from [-1, 1] onto [0, 1];
    - specificity: distinct words that are not stop words, 20 or more = 1;
    - length: 1 from 80 to 300 characters, rising from 0 below 80, falling
      to 0 at 1,000 above 300 (a one-liner says little, an essay is not a quote);
    - rating: the rating on its stage's scale mapped onto [0, 1].

    No comment scores 0 on the first three.
    """
    response = testimonial.response
    comment = (response.comment or "").strip()
    sentiment = ((response.sentiment_compound or 0.0) + 1) / 2 if comment else 0.0
    distinct = {word for word in words_of(comment) if word not in STOP_WORDS}
    specificity = min(len(distinct), 20) / 20
    size = len(comment)
    if size < 80:
        length = size / 80
    elif size <= 300:
        length = 1.0
    else:
        length = max(0.0, (1000 - size) / 700)
    rating = response.stage.rating_scale.normalised(response.rating)
    return 0.40 * sentiment + 0.25 * specificity + 0.15 * length + 0.20 * rating


def suggested(session: Session, workspace_id: int, limit: int = SUGGEST_POOL) -> list[Testimonial]:
    """Pending testimonials, best quote first (see `suggestion_score`), newest first on a tie.

    Only the newest `limit` pending ones are scored, so a huge backlog stays quick.
    """
    stmt = _shown(_loaded(), "pending").order_by(
        Testimonial.consented_at.desc(), Testimonial.id.desc()
    )
    rows = list(session.scalars(workspace_scoped(stmt.limit(limit), workspace_id)).unique())
    # sorted() is stable: equal scores keep the newest-first order.
    return sorted(rows, key=suggestion_score, reverse=True)


def moderation_queue(
    session: Session,
    workspace_id: int,
    show: str = "pending",
    page: int = 1,
    *,
    suggested_first: bool = False,
    per_page: int = PER_PAGE,
) -> ModerationPage:
    """One page of a status tab, newest first; pending can be "suggested first" instead."""
    if show not in SHOWS:
        show = "pending"
    page = max(1, page)
    total = session.scalar(
        workspace_scoped(_shown(select(func.count(Testimonial.id)), show), workspace_id)
    )
    total = int(total or 0)
    if show == "pending" and suggested_first:
        ranked = suggested(session, workspace_id)
        items = ranked[(page - 1) * per_page : page * per_page]
        total = min(total, len(ranked))
    else:
        stmt = (
            _shown(_loaded(), show)
            .order_by(Testimonial.consented_at.desc(), Testimonial.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
        items = list(session.scalars(workspace_scoped(stmt, workspace_id)).unique())
    return ModerationPage(items, show, page, total, per_page, suggested_first)


def get_testimonial(session: Session, workspace_id: int, testimonial_id: int) -> Testimonial:
    """One testimonial of this workspace; another workspace's id is `TestimonialNotFound`."""
    stmt = _loaded().where(Testimonial.id == testimonial_id)
    found = session.scalars(workspace_scoped(stmt, workspace_id)).unique().one_or_none()
    if found is None or found.workspace_id != workspace_id:
        raise TestimonialNotFound("No such testimonial.")
    return found


def _showable(testimonial: Testimonial) -> None:
    if testimonial.withdrawn_at is not None:
        raise WithdrawnTestimonial(
            "The customer withdrew their consent, so this testimonial can't be shown."
        )


def approve(
    session: Session, workspace_id: int, testimonial_id: int, user_id: int | None, now: dt.datetime
) -> Testimonial:
    """Approve for display (a featured one stays approved, no longer featured)."""
    testimonial = get_testimonial(session, workspace_id, testimonial_id)
    _showable(testimonial)
    testimonial.status = "approved"
    testimonial.approved_by_id = user_id
    testimonial.approved_at = now
    return testimonial


def feature(
    session: Session, workspace_id: int, testimonial_id: int, user_id: int | None, now: dt.datetime
) -> Testimonial:
    """Feature: approved for display and shown first."""
    testimonial = get_testimonial(session, workspace_id, testimonial_id)
    _showable(testimonial)
    testimonial.status = "featured"
    testimonial.approved_by_id = user_id
    testimonial.approved_at = now
    return testimonial


def reject(session: Session, workspace_id: int, testimonial_id: int) -> Testimonial:
    """Not to be shown; any earlier approval is cleared."""
    testimonial = get_testimonial(session, workspace_id, testimonial_id)
    testimonial.status = "rejected"
    testimonial.approved_by_id = None
    testimonial.approved_at = None
    return testimonial


def set_excerpt(
    session: Session, workspace_id: int, testimonial_id: int, excerpt: str | None
) -> Testimonial:
    """Set the excerpt shown instead of the whole comment; empty clears it.

    Raises `ExcerptError` unless it only cuts the original (see `check_excerpt`).
    """
    testimonial = get_testimonial(session, workspace_id, testimonial_id)
    if excerpt is None or not excerpt.strip():
        testimonial.excerpt = None
        return testimonial
    testimonial.excerpt = check_excerpt(testimonial.response.comment or "", excerpt)
    return testimonial


def withdraw_on_request(
    session: Session, workspace_id: int, testimonial_id: int, now: dt.datetime
) -> Testimonial:
    """The owner withdraws consent on the customer's behalf: kept on record, never shown again.

    Withdrawing twice keeps the first time.
    """
    testimonial = get_testimonial(session, workspace_id, testimonial_id)
    if testimonial.withdrawn_at is None:
        testimonial.withdrawn_at = now
    return testimonial
