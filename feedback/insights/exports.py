"""CSV exports of responses and testimonials, streamed a few rows at a time.

Both walk an index in the export's order (newest first), so the first lines
go out at once and the rest at a steady rate, whatever the number of rows;
rows are read `CHUNK` at a time (a server-side cursor on PostgreSQL), so
memory stays flat.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from array import array
from collections.abc import Iterator, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select, text
from sqlalchemy.orm import Session

from feedback.db import lock_for_writing
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
# Rows per piece of the response body (a piece is written to the socket as one).
ROWS_PER_PIECE = 200


def csv_safe(value: Any) -> Any:
    """Text a spreadsheet would take for a formula, made inert with a leading apostrophe.

    Numbers pass as they are (a negative sentiment score is a number, not a
    formula); only text is checked.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _csv_lines(header: Sequence[str], rows: Iterator[Sequence[Any]]) -> Iterator[str]:
    """The header at once (the download starts even if no row matches), then rows in pieces."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    starts = frozenset(FORMULA_STARTS)
    for count, row in enumerate(rows, start=1):
        # csv_safe inlined: a million rows of thirteen cells make the call itself count.
        writer.writerow(["'" + v if isinstance(v, str) and v[:1] in starts else v for v in row])
        if count % ROWS_PER_PIECE == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _start_streaming(session: Session) -> None:
    """Settings for a transaction that streams one long query.

    PostgreSQL compiles a query estimated as costly (as any over a million rows
    is) with JIT before the first row: some 400 ms here, for a read that is
    bound by I/O and the CSV writer anyway. SET LOCAL ends with the transaction.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))


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

    Plain rows read `CHUNK` at a time (yield_per: a server-side cursor on
    PostgreSQL), so memory stays flat at any number of rows; they come in the
    order of the (workspace_id, submitted_at) index, so nothing is sorted
    first. Times are the workspace's.
    """
    zone = ZoneInfo(timezone)
    stmt = (
        filtered_responses(workspace_id, filters, timezone, in_time_order=True)
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
        _start_streaming(session)
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
# Uses are written this many at a time, so a huge export never builds one giant statement.
USE_BATCH = 1000


def testimonials_csv(
    session: Session,
    workspace_id: int,
    filters: ResponseFilters,
    timezone: str,
    exported: array[int],
) -> Iterator[str]:
    """Approved and featured testimonials (never pending, rejected or withdrawn), newest first.

    Only those whose responses pass `filters`. The id of each one is appended
    to `exported` as its line is made, for `record_export_uses` once the last
    line is out (8 bytes a testimonial: the rows themselves are not kept).
    The walk follows the (workspace_id, consented_at, id) index and reads each
    one's tags through (workspace_id, testimonial_id, tag), so the first lines
    go out at once and the rest at a steady rate.
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
        filtered_responses(workspace_id, filters, timezone, in_time_order=True)
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
        _start_streaming(session)
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
            exported.append(ident)

    return _csv_lines(TESTIMONIAL_HEADER, rows())


def record_export_uses(
    session: Session, workspace_id: int, exported: array[int], now: dt.datetime
) -> None:
    """Record an `export` use for each exported testimonial, `USE_BATCH` at a time.

    Meant for a transaction of its own after the export's reading one: a
    SQLite transaction that read for seconds cannot then write if anyone else
    wrote meanwhile, and writing while streaming would hold SQLite's one write
    lock for the whole download. So the write lock is taken first, and held
    only while the uses are written.
    """
    lock_for_writing(session)
    for start in range(0, len(exported), USE_BATCH):
        record_uses(session, workspace_id, exported[start : start + USE_BATCH], "export", now)
