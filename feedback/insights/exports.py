"""CSV exports of responses and testimonials, streamed a few rows at a time."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from feedback.insights.queries import ResponseFilters, filtered_responses
from feedback.journey.models import Stage, Touchpoint
from feedback.surveys.models import Contact, Response
from feedback.testimonials.models import Testimonial

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
    "status",
    "stage",
    "touchpoint",
    "rating",
    "quote",
    "display_name",
    "show_name",
    "consent_version",
    "consent_text",
)


def testimonials_csv(
    session: Session, workspace_id: int, filters: ResponseFilters, timezone: str
) -> Iterator[str]:
    """Consents not withdrawn, for the responses passing `filters`, newest first."""
    zone = ZoneInfo(timezone)
    stmt = (
        filtered_responses(workspace_id, filters, timezone)
        .with_only_columns(
            Testimonial.id,
            Testimonial.response_id,
            Testimonial.consented_at,
            Testimonial.status,
            Stage.key,
            Touchpoint.key,
            Response.rating,
            Testimonial.excerpt,
            Response.comment,
            Testimonial.display_name,
            Testimonial.show_name,
            Testimonial.consent_version,
            Testimonial.consent_text,
        )
        .join(Touchpoint, Touchpoint.id == Response.touchpoint_id)
        .join(Testimonial, Testimonial.response_id == Response.id)
        .where(Testimonial.withdrawn_at.is_(None))
        .order_by(Testimonial.consented_at.desc(), Testimonial.id.desc())
        .execution_options(yield_per=CHUNK)
    )

    def rows() -> Iterator[Sequence[Any]]:
        for row in session.execute(stmt):
            (ident, response_id, consented_at, status, stage, touchpoint, rating, excerpt,
             comment, display_name, show_name, version, text) = row  # fmt: skip
            yield (
                ident,
                response_id,
                _iso(consented_at, zone),
                status,
                stage,
                touchpoint,
                rating,
                excerpt or comment or "",
                display_name or "",
                show_name,
                version,
                text,
            )

    return _csv_lines(TESTIMONIAL_HEADER, rows())
