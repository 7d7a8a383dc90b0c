"""Touchpoint events from other systems (API, CSV): one invitation each, exactly once."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from feedback.accounts.models import Workspace
from feedback.db import workspace_scoped
from feedback.journey.services import UnknownStage, UnknownTouchpoint
from feedback.surveys import services
from feedback.surveys.emails import queue_invitation_email
from feedback.surveys.models import Invitation

CSV_COLUMNS = ("email", "name", "stage", "touchpoint", "event_id", "occurred_at")
EVENT_ID_MAX = 200


@dataclass(frozen=True)
class TouchpointEvent:
    """Something that happened to a customer, as another system reports it."""

    email: str
    stage: str
    touchpoint: str
    name: str | None = None
    event_id: str | None = None
    occurred_at: dt.datetime | None = None
    send: bool = True


@dataclass(frozen=True)
class RecordedTouchpoint:
    invitation: Invitation
    created: bool
    token: str | None = None  # only for a new invitation


def record_touchpoint(
    session: Session,
    workspace: Workspace,
    event: TouchpointEvent,
    *,
    now: dt.datetime,
    base_url: str,
    secret_key: str,
) -> RecordedTouchpoint:
    """The invitation for an event, created (and its email queued) the first time only.

    The same `event_id` again returns the first invitation and sends nothing:
    the unique (workspace, event_id) constraint decides, even between two
    requests racing each other. Raises UnknownStage, UnknownTouchpoint or
    InvalidInvitation.
    """
    if event.event_id is not None:
        existing = _by_event_id(session, workspace.id, event.event_id)
        if existing is not None:
            return RecordedTouchpoint(existing, created=False)
    try:
        with session.begin_nested():
            issued = services.invite(
                session,
                workspace,
                stage_key=event.stage,
                touchpoint_key=event.touchpoint,
                email=event.email,
                name=event.name,
                now=now,
                event_id=event.event_id,
                occurred_at=event.occurred_at,
            )
    except IntegrityError:
        if event.event_id is None:
            raise
        existing = _by_event_id(session, workspace.id, event.event_id)
        assert existing is not None
        return RecordedTouchpoint(existing, created=False)
    if event.send and issued.invitation.status == "queued":
        queue_invitation_email(
            session, workspace, issued, base_url=base_url, secret_key=secret_key, now=now
        )
    return RecordedTouchpoint(issued.invitation, created=True, token=issued.token)


def _by_event_id(session: Session, workspace_id: int, event_id: str) -> Invitation | None:
    return session.scalar(
        workspace_scoped(select(Invitation).where(Invitation.event_id == event_id), workspace_id)
    )


@dataclass
class ImportReport:
    """What a CSV import did, line by line (line 1 is the header)."""

    created: list[tuple[int, str]] = field(default_factory=list)  # line, invitation status
    duplicates: list[int] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # line, reason


class CsvImportError(ValueError):
    """The file as a whole cannot be read; the message says why."""


def parse_occurred_at(value: str) -> dt.datetime:
    """ISO 8601; a time without a zone is taken as UTC."""
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def read_csv(data: bytes) -> list[dict[str, str]]:
    """Rows of a touchpoint CSV (UTF-8, header row with at least email, stage, touchpoint)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CsvImportError("The file is not UTF-8 text (save it as CSV UTF-8).") from error
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in ("email", "stage", "touchpoint") if c not in header]
    if missing:
        raise CsvImportError(
            f"The header row lacks {', '.join(missing)}; expected: {', '.join(CSV_COLUMNS)}."
        )
    reader.fieldnames = header
    try:
        return [{k: (v or "").strip() for k, v in row.items() if k} for row in reader]
    except csv.Error as error:
        raise CsvImportError(f"The file is not valid CSV: {error}") from error


def import_touchpoints(
    session: Session,
    workspace: Workspace,
    rows: Iterable[dict[str, str]],
    *,
    now: dt.datetime,
    base_url: str,
    secret_key: str,
    send: bool = True,
) -> ImportReport:
    """Record each row as a touchpoint; a bad row is reported and never stops the others.

    Rows with an event_id already imported are reported as duplicates and send
    nothing, so importing the same file twice is harmless.
    """
    report = ImportReport()
    for line, row in enumerate(rows, start=2):
        try:
            event = TouchpointEvent(
                email=row.get("email", ""),
                name=row.get("name") or None,
                stage=row.get("stage", ""),
                touchpoint=row.get("touchpoint", ""),
                event_id=_event_id(row.get("event_id")),
                occurred_at=parse_occurred_at(row["occurred_at"])
                if row.get("occurred_at")
                else None,
                send=send,
            )
            if not event.email:
                raise services.InvalidInvitation("email is missing")
            with session.begin_nested():
                recorded = record_touchpoint(
                    session, workspace, event, now=now, base_url=base_url, secret_key=secret_key
                )
        except UnknownStage:
            report.rejected.append((line, f"unknown stage {row.get('stage', '')!r}"))
        except UnknownTouchpoint:
            report.rejected.append((line, f"unknown touchpoint {row.get('touchpoint', '')!r}"))
        except services.InvalidInvitation as error:
            report.rejected.append((line, str(error)))
        except ValueError as error:
            report.rejected.append((line, f"occurred_at is not an ISO 8601 date: {error}"))
        else:
            if recorded.created:
                report.created.append((line, recorded.invitation.status))
            else:
                report.duplicates.append(line)
    return report


def _event_id(value: str | None) -> str | None:
    if not value:
        return None
    if len(value) > EVENT_ID_MAX:
        raise services.InvalidInvitation(f"event_id is longer than {EVENT_ID_MAX} characters")
    return value
