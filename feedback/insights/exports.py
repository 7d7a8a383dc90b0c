"""CSV exports of responses and testimonials, streamed a few rows at a time."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from feedback.insights.queries import ResponseFilters, filtered_responses
from feedback.journey.models import Stage, Touchpoint
from feedback.surveys.models import Contact, Response
from feedback.testimonials.models import (
    MATERIAL_CONNECTION_LABELS,
    SHOWN_STATUSES,
    Testimonial,
    TestimonialTag,
)
from feedback.testimonials.usage import record_uses

# A spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK = 1000


def csv_safe(value: Any) -> Any:
    """Text a spreadsheet would take for a formula, made inert with a leading apostrophe.

    Numbers pass as they are (a negative sentiment score is a number, not a
    formula); only text is checked.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _csv_lines(header: Sequence[str], rows: Iterator[Sequence[Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for count, row in enumerate(rows, start=1):
        writer.writerow([csv_safe(value) for value in row])
        if count % 200 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _iso(moment: Any, timezone: Any) -> str:
    return moment.astimezone(timezone).isoformat(timespec="seconds") if moment else ""


RESPONSE_HEADER = (
    "id",
    "submitted_at",
    "stage",
    "touchpoint",
    "rating",
    "scale",
    "comment",
    "sentiment_label",
    "sentiment_compound",
    "testimonial_opt_in",
    "follow_up",
    "contact_email",
    "contact_name",
)


def responses_csv(
    session: Session, workspace_id: int, filters: ResponseFilters, timezone: str
) -> Iterator[str]:
    """The responses passing `filters`, newest first, as CSV text in pieces.

    Plain rows read `CHUNK` at a time (yield_per), so memory stays flat at any
    number of rows; times are the workspace's.
    """
    zone = ZoneInfo(timezone)
    stmt = (
        filtered_responses(workspace_id, filters, timezone)
        .with_only_columns(
            Response.id,
            Response.submitted_at,
            Stage.key,
            Touchpoint.key,
            Response.rating,
            Stage.scale,
            Response.comment,
            Response.sentiment_label,
            Response.sentiment_compound,
            Response.testimonial_opt_in,
            Response.follow_up_state,
            Contact.email,
            Contact.name,
        )
        .join(Touchpoint, Touchpoint.id == Response.touchpoint_id)
        .outerjoin(Contact, Contact.id == Response.contact_id)
        .order_by(Response.submitted_at.desc(), Response.id.desc())
        .execution_options(yield_per=CHUNK)
    )

    def rows() -> Iterator[Sequence[Any]]:
        for row in session.execute(stmt):
            values = list(row)
            values[1] = _iso(values[1], zone)
            yield values

    return _csv_lines(RESPONSE_HEADER, rows())


TESTIMONIAL_HEADER = (
    "id",
    "response_id",
    "consented_at",
    "reconfirmed_at",
    "status",
    "stage",
    "touchpoint",
    "rating",
    "quote",
    "display_name",
    "show_name",
    "role",
    "tags",
    "channels",
    "material_connection_disclosure",
    "consent_version",
    "consent_text",
)
# Uses are written every this many rows, so a huge export never builds one giant statement.
USE_BATCH = 500


def testimonials_csv(
    session: Session,
    workspace_id: int,
    filters: ResponseFilters,
    timezone: str,
    now: dt.datetime,
) -> Iterator[str]:
    """Approved and featured testimonials (never pending, rejected or withdrawn), newest first.

    Only those whose responses pass `filters`. Each exported one gets an
    `export` use recorded as its rows go out (in batches); the caller commits
    after the last line, so a download broken off midway records nothing.
    """
    zone = ZoneInfo(timezone)
    tags = (
        select(func.aggregate_strings(TestimonialTag.tag, " "))
        .where(
            TestimonialTag.workspace_id == workspace_id,
            TestimonialTag.testimonial_id == Testimonial.id,
        )
        .correlate(Testimonial)
        .scalar_subquery()
    )
    stmt = (
        filtered_responses(workspace_id, filters, timezone)
        .with_only_columns(
            Testimonial.id,
            Testimonial.response_id,
            Testimonial.consented_at,
            Testimonial.reconfirmed_at,
            Testimonial.status,
            Stage.key,
            Touchpoint.key,
            Response.rating,
            Testimonial.excerpt,
            Response.comment,
            Testimonial.display_name,
            Testimonial.show_name,
            Testimonial.display_role,
            tags,
            Testimonial.channels,
            Testimonial.material_connection,
            Testimonial.consent_version,
            Testimonial.consent_text,
        )
        .join(Touchpoint, Touchpoint.id == Response.touchpoint_id)
        .join(
            Testimonial,
            and_(
                Testimonial.response_id == Response.id,
                Testimonial.workspace_id == Response.workspace_id,
            ),
        )
        .where(
            Testimonial.workspace_id == workspace_id,
            Testimonial.status.in_(SHOWN_STATUSES),
            Testimonial.withdrawn_at.is_(None),
        )
        .order_by(Testimonial.consented_at.desc(), Testimonial.id.desc())
        .execution_options(yield_per=CHUNK)
    )

    def rows() -> Iterator[Sequence[Any]]:
        pending: list[int] = []
        for row in session.execute(stmt):
            (ident, response_id, consented_at, reconfirmed_at, status, stage, touchpoint, rating,
             excerpt, comment, display_name, show_name, role, tag_text, channels, connection,
             version, text) = row  # fmt: skip
            yield (
                ident,
                response_id,
                _iso(consented_at, zone),
                _iso(reconfirmed_at, zone),
                status,
                stage,
                touchpoint,
                rating,
                excerpt or comment or "",
                display_name or "",
                show_name,
                role or "",
                " ".join(sorted((tag_text or "").split())),
                channels,
                MATERIAL_CONNECTION_LABELS.get(connection, "") if connection else "",
                version,
                text,
            )
            pending.append(ident)
            if len(pending) >= USE_BATCH:
                record_uses(session, workspace_id, pending, "export", now)
                pending = []
        record_uses(session, workspace_id, pending, "export", now)

    return _csv_lines(TESTIMONIAL_HEADER, rows())
