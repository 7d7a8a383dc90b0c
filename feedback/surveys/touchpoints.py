"""Touchpoint events from other systems (API, CSV): one invitation each, exactly once."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from feedback.accounts.models import Workspace
from feedback.db import lock_for_writing, workspace_scoped
from feedback.inputs import MomentOutOfRange, moment_in_range
from feedback.journey.models import Stage, Touchpoint
from feedback.journey.services import UnknownStage, UnknownTouchpoint
from feedback.surveys import services
from feedback.surveys.emails import queue_invitation_emails
from feedback.surveys.models import Contact, Invitation
from feedback.text import clean_text, refuse_control_characters

CSV_COLUMNS = ("email", "name", "stage", "touchpoint", "event_id", "occurred_at")
EVENT_ID_MAX = 200
IMPORT_BATCH = 1000


@dataclass(frozen=True)
class TouchpointEvent:
    """Something that happened to a customer, as another system reports it."""

    email: str
    stage: str
    touchpoint: str
    name: str | None = None
    external_id: str | None = None
    event_id: str | None = None
    occurred_at: dt.datetime | None = None
    send: bool = True


@dataclass(frozen=True)
class RecordedInvitation:
    """What an event's caller learns of its invitation."""

    id: int
    status: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class RecordedTouchpoint:
    invitation: RecordedInvitation
    created: bool
    token: str | None = None  # only for a new invitation


@dataclass(frozen=True)
class ContactRow:
    """The columns of a contact a batch needs (rows, not ORM objects: batches are large)."""

    id: int
    workspace_id: int
    email: str
    name: str | None
    external_id: str | None
    unsubscribed_at: dt.datetime | None


class EventIdConflict(ValueError):
    """An event_id seen before, now with another contact or touchpoint: which one is true?"""

    def __init__(self, event_id: str) -> None:
        super().__init__(
            f"event_id {event_id!r} was already used for another contact or touchpoint."
        )
        self.event_id = event_id


# Why an event was not recorded; returned in its place, never raised by the batch.
Rejected = UnknownStage | UnknownTouchpoint | services.InvalidInvitation | EventIdConflict

# A concurrent request may create the same contact or event first; the batch is
# then retried, and finds their rows.
_RACE_RETRIES = 3


def record_touchpoint(
    session: Session,
    workspace: Workspace,
    event: TouchpointEvent,
    *,
    now: dt.datetime,
    base_url: str,
    secret_key: str,
) -> RecordedTouchpoint:
    """The invitation for one event (see `record_touchpoints`); raises what it was rejected for.

    Raises UnknownStage, UnknownTouchpoint or InvalidInvitation.
    """
    [outcome] = record_touchpoints(
        session, workspace, [event], now=now, base_url=base_url, secret_key=secret_key
    )
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def record_touchpoints(
    session: Session,
    workspace: Workspace,
    events: Sequence[TouchpointEvent],
    *,
    now: dt.datetime,
    base_url: str,
    secret_key: str,
) -> list[RecordedTouchpoint | Rejected]:
    """The invitation for each event, created (and its email queued) the first time only.

    One outcome per event, in order: a bad event is rejected on its own and
    never stops the others. The same `event_id` again (in an earlier call or
    earlier in this batch) returns the first invitation and sends nothing; the
    unique (workspace, event_id) constraint decides between racing requests.
    Throttling and unsubscribes apply as in `services.invite`, also between
    events of one batch. Set-based: a handful of statements per batch, not per
    event, so a thousand events cost about as much as a few.
    """
    for attempt in range(_RACE_RETRIES):
        try:
            with session.begin_nested():
                lock_for_writing(session)
                return _record_batch(
                    session, workspace, events, now=now, base_url=base_url, secret_key=secret_key
                )
        except IntegrityError:
            if attempt == _RACE_RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def _record_batch(
    session: Session,
    workspace: Workspace,
    events: Sequence[TouchpointEvent],
    *,
    now: dt.datetime,
    base_url: str,
    secret_key: str,
) -> list[RecordedTouchpoint | Rejected]:
    outcomes: list[RecordedTouchpoint | Rejected | None] = [None] * len(events)
    touchpoints = _touchpoints_by_key(session, workspace.id)
    stage_keys = {stage_key for stage_key, _ in touchpoints}
    accepted: list[tuple[int, TouchpointEvent, Touchpoint, str]] = []
    for index, event in enumerate(events):
        stage_and_touchpoint = touchpoints.get((event.stage, event.touchpoint))
        if stage_and_touchpoint is None:
            outcomes[index] = (
                UnknownTouchpoint(event.touchpoint)
                if event.stage in stage_keys
                else UnknownStage(event.stage)
            )
            continue
        try:
            email = services.valid_email(event.email)
        except services.InvalidInvitation as error:
            outcomes[index] = error
            continue
        accepted.append((index, event, stage_and_touchpoint[1], email))

    seen = _by_event_ids(session, workspace.id, {e.event_id for _, e, _, _ in accepted})
    fresh: list[tuple[int, TouchpointEvent, Touchpoint, str]] = []
    first_in_batch: dict[str, tuple[int, tuple[str, int]]] = {}
    for index, event, touchpoint, email in accepted:
        # The same event_id again is the same event only for the same customer
        # and touchpoint; anything else is a conflict, not silently "the same".
        identity = (email, touchpoint.id)
        if event.event_id is not None and event.event_id in seen:
            recorded, seen_identity = seen[event.event_id]
            outcomes[index] = (
                RecordedTouchpoint(recorded, created=False)
                if seen_identity == identity
                else EventIdConflict(event.event_id)
            )
        elif event.event_id is not None and event.event_id in first_in_batch:
            if first_in_batch[event.event_id][1] != identity:
                outcomes[index] = EventIdConflict(event.event_id)
            # else answered below, once the first one exists
        else:
            if event.event_id is not None:
                first_in_batch[event.event_id] = (index, identity)
            fresh.append((index, event, touchpoint, email))

    contacts = _contacts_for(session, workspace.id, [(e, email) for _, e, _, email in fresh], now)
    asks = services.recent_asks(
        session, workspace, [c.id for c in contacts.values() if c.unsubscribed_at is None], now
    )
    rows: list[dict[str, Any]] = []
    tokens: list[str] = []
    for _, event, touchpoint, email in fresh:
        contact = contacts[email]
        token = services.new_token()
        contact_asks = asks.setdefault(contact.id, [])
        status = services.new_invitation_status(
            workspace,
            unsubscribed=contact.unsubscribed_at is not None,
            asks=contact_asks,
            stage_id=touchpoint.stage_id,
            now=now,
        )
        if status == "queued":
            # Counts as an ask for the batch's later events of this contact.
            contact_asks.append((touchpoint.stage_id, now))
        tokens.append(token)
        rows.append(
            {
                "workspace_id": workspace.id,
                "contact_id": contact.id,
                "stage_id": touchpoint.stage_id,
                "touchpoint_id": touchpoint.id,
                "token_hash": services.hash_token(token),
                "event_id": event.event_id,
                "status": status,
                "occurred_at": event.occurred_at,
                "created_at": now,
                "expires_at": now + dt.timedelta(days=workspace.invitation_ttl_days),
                "reminder_count": 0,
            }
        )
    invitation_ids = (
        list(
            session.scalars(
                insert(Invitation.__table__).returning(
                    Invitation.__table__.c.id, sort_by_parameter_order=True
                ),
                rows,
            )
        )
        if rows
        else []
    )
    emails: list[tuple[int, str, Stage, ContactRow]] = []
    stages = {stage.id: stage for stage, _ in touchpoints.values()}
    for (index, event, _, email), invitation_id, row, token in zip(
        fresh, invitation_ids, rows, tokens, strict=True
    ):
        recorded = RecordedInvitation(invitation_id, row["status"], row["expires_at"])
        outcomes[index] = RecordedTouchpoint(recorded, created=True, token=token)
        if event.send and row["status"] == "queued":
            emails.append((invitation_id, token, stages[row["stage_id"]], contacts[email]))
    if emails:
        queue_invitation_emails(
            session, workspace, emails, base_url=base_url, secret_key=secret_key, now=now
        )
    for index, event in enumerate(events):
        if outcomes[index] is None:  # a repeat of an event_id first seen in this batch
            assert event.event_id is not None
            first = outcomes[first_in_batch[event.event_id][0]]
            assert isinstance(first, RecordedTouchpoint)
            outcomes[index] = RecordedTouchpoint(first.invitation, created=False)
    return [o for o in outcomes if o is not None]


def _touchpoints_by_key(
    session: Session, workspace_id: int
) -> dict[tuple[str, str], tuple[Stage, Touchpoint]]:
    rows = session.execute(
        workspace_scoped(
            select(Stage, Touchpoint)
            .join(Stage, Stage.id == Touchpoint.stage_id)
            .where(Stage.active.is_(True)),
            workspace_id,
        )
    )
    return {(stage.key, touchpoint.key): (stage, touchpoint) for stage, touchpoint in rows}


def _by_event_ids(
    session: Session, workspace_id: int, event_ids: set[str | None]
) -> dict[str, tuple[RecordedInvitation, tuple[str, int]]]:
    """Invitations already recorded for these event ids, with their (email, touchpoint id)."""
    wanted = sorted(e for e in event_ids if e is not None)
    found: dict[str, tuple[RecordedInvitation, tuple[str, int]]] = {}
    for chunk in _chunks(wanted):
        stmt = (
            select(
                Invitation.event_id,
                Invitation.id,
                Invitation.status,
                Invitation.expires_at,
                Contact.email,
                Invitation.touchpoint_id,
            )
            .join(Contact, Contact.id == Invitation.contact_id)
            .where(Invitation.event_id.in_(chunk))
        )
        for row in session.execute(workspace_scoped(stmt, workspace_id)):
            found[row.event_id] = (
                RecordedInvitation(row.id, row.status, row.expires_at),
                (row.email, row.touchpoint_id),
            )
    return found


def _contacts_for(
    session: Session,
    workspace_id: int,
    wanted: Sequence[tuple[TouchpointEvent, str]],
    now: dt.datetime,
) -> dict[str, ContactRow]:
    """The contact of each normalised email, created when new; names given are kept."""
    table = Contact.__table__
    # ORM attributes, not table columns: workspace_scoped applies to ORM selects.
    columns = [getattr(Contact, name) for name in ContactRow.__dataclass_fields__]
    emails = sorted({email for _, email in wanted})
    contacts: dict[str, ContactRow] = {}
    for chunk in _chunks(emails):
        stmt = select(*columns).where(Contact.email.in_(chunk))
        for row in session.execute(workspace_scoped(stmt, workspace_id)):
            contacts[row.email] = ContactRow(*row)
    details: dict[str, tuple[str | None, str | None]] = {}
    for event, email in wanted:
        name = clean_text(event.name, multiline=False)
        name = name[:120] if name else None
        old_name, old_external = details.get(email, (None, None))
        details[email] = (name or old_name, event.external_id or old_external)
    new_rows = [
        {
            "workspace_id": workspace_id,
            "email": email,
            "name": details[email][0],
            "external_id": details[email][1],
            "unsubscribed_at": None,
            "created_at": now,
        }
        for email in emails
        if email not in contacts
    ]
    if new_rows:
        created = session.execute(
            insert(table).returning(
                *(table.c[name] for name in ContactRow.__dataclass_fields__),
                sort_by_parameter_order=True,
            ),
            new_rows,
        )
        for row in created:
            contacts[row.email] = ContactRow(*row)
    changes = []
    for email, (name, external_id) in details.items():
        contact = contacts[email]
        if (name and contact.name != name) or (external_id and contact.external_id != external_id):
            changes.append(
                {
                    "contact_id": contact.id,
                    "new_name": name or contact.name,
                    "new_external_id": external_id or contact.external_id,
                }
            )
    if changes:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("contact_id"))
            .values(name=bindparam("new_name"), external_id=bindparam("new_external_id")),
            changes,
        )
    return contacts


def _chunks(values: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass
class ImportReport:
    """What a CSV import did, line by line (line 1 is the header)."""

    created: list[tuple[int, str]] = field(default_factory=list)  # line, invitation status
    duplicates: list[int] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # line, reason


class CsvImportError(ValueError):
    """The file as a whole cannot be read; the message says why."""


def parse_occurred_at(value: str) -> dt.datetime:
    """ISO 8601; a time without a zone is taken as UTC; within `inputs.moment_in_range`."""
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment_in_range(moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC))


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
    return import_lines(
        session,
        workspace,
        enumerate(rows, start=2),
        now=now,
        base_url=base_url,
        secret_key=secret_key,
        send=send,
    )


def import_lines(
    session: Session,
    workspace: Workspace,
    lines: Iterable[tuple[int, dict[str, str]]],
    *,
    now: dt.datetime,
    base_url: str,
    secret_key: str,
    send: bool = True,
) -> ImportReport:
    """`import_touchpoints` for rows numbered by their line in the file (1 is the header)."""
    report = ImportReport()
    parsed: list[tuple[int, TouchpointEvent]] = []
    for line, row in lines:
        try:
            parsed.append((line, _event_of_row(row, send)))
        except services.InvalidInvitation as error:
            report.rejected.append((line, str(error)))
        except MomentOutOfRange as error:
            report.rejected.append((line, f"occurred_at {error}"))
        except ValueError as error:
            report.rejected.append((line, f"occurred_at is not an ISO 8601 date: {error}"))
    # Recorded a batch at a time: a file of many thousand rows stays quick.
    for start in range(0, len(parsed), IMPORT_BATCH):
        batch = parsed[start : start + IMPORT_BATCH]
        outcomes = record_touchpoints(
            session,
            workspace,
            [event for _, event in batch],
            now=now,
            base_url=base_url,
            secret_key=secret_key,
        )
        for (line, event), outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, UnknownStage):
                report.rejected.append((line, f"unknown stage {event.stage!r}"))
            elif isinstance(outcome, UnknownTouchpoint):
                report.rejected.append((line, f"unknown touchpoint {event.touchpoint!r}"))
            elif isinstance(outcome, services.InvalidInvitation):
                # Not the cell itself: the report outlives the rows' personal data.
                report.rejected.append((line, "email is not a valid email address"))
            elif isinstance(outcome, EventIdConflict):
                report.rejected.append((line, str(outcome)))
            elif outcome.created:
                report.created.append((line, outcome.invitation.status))
            else:
                report.duplicates.append(line)
    report.rejected.sort()
    return report


def _event_of_row(row: dict[str, str], send: bool) -> TouchpointEvent:
    if not row.get("email"):
        raise services.InvalidInvitation("email is missing")
    return TouchpointEvent(
        email=row["email"],
        name=row.get("name") or None,
        stage=row.get("stage", ""),
        touchpoint=row.get("touchpoint", ""),
        event_id=_event_id(row.get("event_id")),
        occurred_at=parse_occurred_at(row["occurred_at"]) if row.get("occurred_at") else None,
        send=send,
    )


def _event_id(value: str | None) -> str | None:
    if not value:
        return None
    if len(value) > EVENT_ID_MAX:
        raise services.InvalidInvitation(f"event_id is longer than {EVENT_ID_MAX} characters")
    try:
        return refuse_control_characters(value)
    except ValueError as error:
        raise services.InvalidInvitation(f"event_id {error}") from None
