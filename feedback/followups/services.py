"""Follow-ups: the queue of unhappy answers, what owners do with them, and the owners' digest.

A follow-up is five columns of its `Response` (`follow_up_state`,
`follow_up_due_at`, `assignee_id`, `resolved_at`, `resolution_note`); they
stay on that table, where the queue's indexes cover them. This module owns
every change to them: the first state, then assign, unassign a member who
goes, note, resolve, reopen.

An answer is stored with its follow-up state, in one INSERT: the submit
(`feedback.answers`, above this module) calls `open_follow_up_for` on the
new response before it is written, so opening the follow-up costs an
unhappy answer no second write. (The demo loader stores made-up follow-ups
as whole rows.)

Removing someone from a team (`accounts`, below this module) does not touch
follow-ups: whoever removes them calls `unassign_member` in the same
transaction, so their follow-ups go back to nobody and stay open.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import ColumnElement, Select, case, exists, func, or_, select, update
from sqlalchemy.orm import Session, joinedload

from feedback.accounts.models import Membership, User, Workspace
from feedback.db import lock_for_writing, rowcount, workspace_scoped
from feedback.delivery.emails import compose
from feedback.delivery.services import enqueue_email
from feedback.journey.models import Stage
from feedback.journey.scales import SCALES, is_unhappy
from feedback.paging import (
    Cursor,
    KeysetPage,
    Kind,
    Segment,
    capped_count,
    id_key,
    keyset_page,
    one_of,
    time_key,
)
from feedback.surveys.models import Response
from feedback.text import clean_text

PER_PAGE = 25
# What the queue can show; "open" is the default.
SHOWS = ("open", "overdue", "mine", "resolved", "all")
NOTE_MAX = 2000
# All notes of one follow-up together; far beyond any real conversation, it
# keeps a runaway script from growing one row without end.
NOTES_TOTAL_MAX = 100_000

# At most one digest per workspace in this time.
DIGEST_INTERVAL = dt.timedelta(hours=1)
# A digest covers answers submitted at least this long ago: an answer is
# stamped when its request starts and becomes visible when it commits, so an
# answer stamped just before a digest could still be uncommitted while the
# digest reads (and would then be skipped for good). It also absorbs clock
# differences between the web servers and the worker.
DIGEST_SETTLE = dt.timedelta(minutes=5)
# Follow-ups listed in one digest; the rest are counted and linked.
DIGEST_LIST_MAX = 20
DIGEST_EXCERPT = 200


class FollowUpNotFound(LookupError):
    """No follow-up with this id in this workspace (or the response needs none)."""


class FollowUpError(ValueError):
    """An action that cannot be done; the message says why, for the owner."""


class UnknownAssignee(FollowUpError):
    """The chosen person is not a member of the workspace."""


class InvalidNote(FollowUpError):
    """A note that is empty or too long."""


class WrongState(FollowUpError):
    """Resolving what is resolved, or reopening what is open."""


@dataclass(frozen=True)
class Note:
    """One note of a follow-up; `at` and `author` are None for text without a header."""

    at: dt.datetime | None
    author: str | None
    text: str


def open_follow_up_for(
    response: Response, workspace: Workspace, scale_key: str, now: dt.datetime
) -> None:
    """A new, not yet stored response's follow-up: open and due within the workspace's SLA
    if the answer is unhappy (on its stage's scale `scale_key`), none otherwise."""
    if is_unhappy(scale_key, response.rating, response.sentiment_label):
        response.follow_up_state = "open"
        response.follow_up_due_at = now + dt.timedelta(hours=workspace.follow_up_sla_hours)
    else:
        response.follow_up_state = "none"
        response.follow_up_due_at = None


def _span(delta: dt.timedelta) -> str:
    minutes = max(int(delta.total_seconds() // 60), 1)
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h"
    return f"{hours // 24} d"


@dataclass(frozen=True)
class FollowUp:
    """A follow-up as the pages show it: the response, who has it, and how it stands at `now`."""

    response: Response
    assignee: User | None
    now: dt.datetime

    @property
    def is_open(self) -> bool:
        return self.response.follow_up_state == "open"

    @property
    def overdue(self) -> bool:
        due = self.response.follow_up_due_at
        return self.is_open and due is not None and due < self.now

    @property
    def due_text(self) -> str:
        """ "Overdue by 5 h", "Due in 40 min"; "Resolved" once resolved."""
        due = self.response.follow_up_due_at
        if not self.is_open:
            return "Resolved"
        if due is None:
            return "No due time"
        if due < self.now:
            return f"Overdue by {_span(self.now - due)}"
        return f"Due in {_span(due - self.now)}"

    @property
    def notes(self) -> list[Note]:
        return parse_notes(self.response.resolution_note)


@dataclass(frozen=True)
class FollowUpsPage(KeysetPage[FollowUp]):
    """One page of the queue, with the filters that made it."""

    show: str = "open"
    stage: Stage | None = None


def _shown(show: str, now: dt.datetime, user_id: int | None) -> list[ColumnElement[bool]]:
    is_open = Response.follow_up_state == "open"
    if show == "open":
        return [is_open]
    if show == "overdue":
        return [is_open, Response.follow_up_due_at < now]
    if show == "mine":
        if user_id is None:
            raise ValueError("'mine' needs the user")
        return [is_open, Response.assignee_id == user_id]
    if show == "resolved":
        return [Response.follow_up_state == "resolved"]
    if show == "all":
        return [Response.follow_up_state.in_(("open", "resolved"))]
    raise ValueError(f"unknown follow-up filter {show!r}")


def cursor_kinds(show: str) -> list[Kind]:
    """What a cursor of the `show` tab holds: (due or resolved time, id), "all" its part first."""
    kinds: list[Kind] = [time_key, id_key]
    return [one_of("open", "resolved"), *kinds] if show == "all" else kinds


def _segments(
    show: str, where: list[ColumnElement[bool]], workspace_id: int
) -> list[Segment[FollowUp]]:
    """The tab's runs, each in the order of an index (workspace, state, due or resolved time).

    Open ones come earliest due first (overdue ones, the longest overdue on
    top, then the ones that fall due soonest); resolved ones latest resolved
    first; "all" shows the open ones, then the resolved ones.
    """

    def run_of(name: str, state: str, column: Any, descending: bool) -> Segment[FollowUp]:
        stmt = workspace_scoped(
            _with_assignee().where(*where, Response.follow_up_state == state), workspace_id
        )
        return Segment(
            name,
            stmt,
            (column, Response.id),
            descending,
            lambda f: (getattr(f.response, column.key), f.response.id),
        )

    open_run = run_of("open", "open", Response.follow_up_due_at, False)
    resolved_run = run_of("resolved", "resolved", Response.resolved_at, True)
    if show == "all":
        return [open_run, resolved_run]
    return [resolved_run] if show == "resolved" else [open_run]


def follow_ups_page(
    session: Session,
    workspace_id: int,
    now: dt.datetime,
    *,
    show: str = "open",
    stage: Stage | None = None,
    user_id: int | None = None,
    cursor: Cursor | None = None,
    per_page: int = PER_PAGE,
) -> FollowUpsPage:
    """One page of the queue, from `cursor` (see `cursor_kinds`; None: the first page).

    `show`: "open" (the default), "overdue" (open and past due), "mine" (open
    and assigned to `user_id`), "resolved" or "all"; `stage` narrows any of
    them to one stage. The total is counted up to COUNT_CAP + 1 only.
    """
    where = _shown(show, now, user_id)
    if stage is not None:
        where.append(Response.stage_id == stage.id)
    total = capped_count(
        session, select(Response.id).where(*where), (Response.workspace_id, workspace_id)
    )

    def run(stmt: Select[Any]) -> list[FollowUp]:
        return [FollowUp(response, user, now) for response, user in session.execute(stmt)]

    page = keyset_page(_segments(show, where, workspace_id), cursor, per_page, run, total)
    return FollowUpsPage(page.items, page.newer, page.older, page.total, show, stage)


def _with_assignee() -> Select[Response, User]:
    """Responses with their assignee and what a follow-up shows (stage, touchpoint, contact)."""
    return (
        select(Response, User)
        .outerjoin(User, User.id == Response.assignee_id)
        .options(
            joinedload(Response.stage),
            joinedload(Response.touchpoint),
            joinedload(Response.contact),
        )
    )


def stages_of(session: Session, workspace_id: int) -> list[Stage]:
    """The workspace's stages in journey order (for the stage filter)."""
    return list(
        session.scalars(workspace_scoped(select(Stage).order_by(Stage.position), workspace_id))
    )


def get_follow_up(
    session: Session, workspace_id: int, response_id: int, now: dt.datetime
) -> FollowUp:
    """One follow-up of this workspace; FollowUpNotFound for anything else."""
    row = session.execute(
        workspace_scoped(
            _with_assignee().where(Response.id == response_id, Response.follow_up_state != "none"),
            workspace_id,
        )
    ).first()
    if row is None:
        raise FollowUpNotFound(response_id)
    return FollowUp(row[0], row[1], now)


def _locked(
    session: Session, workspace_id: int, response_id: int, *, with_follow_up: bool = True
) -> Response:
    # Locked until commit, so two owners acting at once take turns instead of
    # one overwriting the other's note.
    lock_for_writing(session)
    stmt = select(Response).where(Response.id == response_id)
    if with_follow_up:
        stmt = stmt.where(Response.follow_up_state != "none")
    response = session.scalar(
        workspace_scoped(
            stmt.with_for_update().execution_options(populate_existing=True), workspace_id
        )
    )
    if response is None:
        raise FollowUpNotFound(response_id)
    return response


def assign_follow_up(
    session: Session, workspace_id: int, response_id: int, user_id: int | None
) -> Response:
    """Give the follow-up to a member of the workspace, or to nobody (None).

    UnknownAssignee for anyone who is not a member of this workspace;
    FollowUpNotFound for another workspace's (or no) follow-up.
    """
    response = _locked(session, workspace_id, response_id)
    if user_id is not None:
        member = session.scalar(
            select(Membership.id).where(
                Membership.workspace_id == workspace_id, Membership.user_id == user_id
            )
        )
        if member is None:
            raise UnknownAssignee("Choose someone from the list: that person is not a member.")
    response.assignee_id = user_id
    session.flush()
    return response


def unassign_member(session: Session, workspace_id: int, user_id: int) -> int:
    """Give this person's follow-ups in the workspace back to nobody; they stay open (or resolved).

    For someone who leaves or is removed from the workspace, called in the
    same transaction, so none waits on someone gone. Their follow-ups in
    other workspaces stay theirs. Returns how many changed.
    """
    return rowcount(
        session.execute(
            update(Response)
            .where(Response.workspace_id == workspace_id, Response.assignee_id == user_id)
            .values(assignee_id=None)
            .execution_options(synchronize_session=False)
        )
    )


def notify_assignee(
    session: Session,
    workspace: Workspace,
    response: Response,
    assignee: User,
    *,
    assigned_by: str,
    base_url: str,
    now: dt.datetime,
) -> None:
    """Email someone that a follow-up was given to them (through the outbox)."""
    base = base_url.rstrip("/")
    scale = SCALES[response.stage.scale]
    email = compose(
        "follow-up-assigned",
        to=assignee.email,
        data={
            "workspace": workspace,
            "response": response,
            "scale_high": scale.high,
            "excerpt": _excerpt(response.comment),
            "assigned_by": assigned_by,
            "link": f"{base}/follow-ups/{response.id}",
        },
        base_url=base_url,
        meta={"follow_up_assigned": response.id},
        # Links only to the follow-up page (login needed): kept if it gives up, for a Retry.
        links=False,
    )
    enqueue_email(session, workspace.id, **vars(email), now=now)


def _note_entry(note: str | None, author: str | None, now: dt.datetime) -> str:
    text = clean_text(note, multiline=True)
    if text is None:
        raise InvalidNote("Write a note first.")
    if len(text) > NOTE_MAX:
        raise InvalidNote(
            f"Please keep a note under {NOTE_MAX:,} characters (this one has {len(text):,})."
        )
    author = clean_text(author, multiline=False)
    stamp = now.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")
    header = f"[{stamp} UTC · {author}]" if author else f"[{stamp} UTC]"
    return f"{header}\n{text}"


def _append(response: Response, entry: str) -> None:
    notes = f"{response.resolution_note}\n\n{entry}" if response.resolution_note else entry
    if len(notes) > NOTES_TOTAL_MAX:
        raise InvalidNote("This follow-up has as many notes as it can hold.")
    response.resolution_note = notes


def add_note(
    session: Session,
    workspace_id: int,
    response_id: int,
    note: str | None,
    now: dt.datetime,
    *,
    author: str | None = None,
) -> Response:
    """Append a note, headed with the time (UTC) and the author, to the follow-up's notes.

    The text is kept as typed (HTML included: pages escape it), with control
    characters removed and outer blank space trimmed. InvalidNote when empty
    or over NOTE_MAX characters; nothing changes then.
    """
    entry = _note_entry(note, author, now)
    response = _locked(session, workspace_id, response_id)
    _append(response, entry)
    session.flush()
    return response


def resolve_follow_up(
    session: Session,
    workspace_id: int,
    response_id: int,
    now: dt.datetime,
    *,
    note: str | None = None,
    author: str | None = None,
) -> Response:
    """Mark an open follow-up resolved now, with an optional closing note.

    WrongState if it is resolved already; InvalidNote (and nothing changed)
    for a note that is too long.
    """
    entry = _note_entry(note, author, now) if clean_text(note, multiline=True) else None
    response = _locked(session, workspace_id, response_id)
    if response.follow_up_state != "open":
        raise WrongState("This follow-up is resolved already.")
    if entry is not None:
        _append(response, entry)
    response.follow_up_state = "resolved"
    response.resolved_at = now
    session.flush()
    return response


def start_follow_up(
    session: Session, workspace_id: int, response_id: int, now: dt.datetime, sla_hours: int
) -> Response:
    """Open a follow-up on an answer that did not get one by itself.

    Unhappy answers get one when they arrive; an owner may want to get back
    to anyone else too (a 4 out of 5 that mentions a broken part). It is due
    within the workspace's follow-up time from now. WrongState if the answer
    has a follow-up already (open or resolved).
    """
    response = _locked(session, workspace_id, response_id, with_follow_up=False)
    if response.follow_up_state != "none":
        raise WrongState("This answer has a follow-up already.")
    response.follow_up_state = "open"
    response.follow_up_due_at = now + dt.timedelta(hours=sla_hours)
    session.flush()
    return response


def reopen_follow_up(session: Session, workspace_id: int, response_id: int) -> Response:
    """Open a resolved follow-up again; it keeps its due time (the customer has waited since)."""
    response = _locked(session, workspace_id, response_id)
    if response.follow_up_state != "resolved":
        raise WrongState("This follow-up is open already.")
    response.follow_up_state = "open"
    response.resolved_at = None
    session.flush()
    return response


_NOTE_HEADER = re.compile(r"^\[(\d{4}-\d{2}-\d{2} \d{2}:\d{2}) UTC(?: · ([^\]\n]*))?\]$", re.M)


def parse_notes(stored: str | None) -> list[Note]:
    """The notes kept in `resolution_note`, oldest first."""
    if not stored:
        return []
    notes: list[Note] = []
    headers = list(_NOTE_HEADER.finditer(stored))
    lead = stored[: headers[0].start() if headers else len(stored)].strip()
    if lead:
        notes.append(Note(None, None, lead))
    for index, header in enumerate(headers):
        end = headers[index + 1].start() if index + 1 < len(headers) else len(stored)
        at = dt.datetime.strptime(header.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=dt.UTC)
        notes.append(Note(at, header.group(2), stored[header.end() : end].strip("\n")))
    return notes


def follow_up_counts(
    session: Session, workspace_id: int, now: dt.datetime
) -> dict[int, tuple[int, int]]:
    """Open and overdue follow-ups per stage: `{stage_id: (open, overdue)}`.

    Overdue means open and due before `now`. Stages without an open
    follow-up are left out (read them as `(0, 0)`). One grouped query over
    the workspace's open follow-ups (index on workspace and state).
    """
    overdue = func.sum(case((Response.follow_up_due_at < now, 1), else_=0))
    rows = session.execute(
        workspace_scoped(
            select(Response.stage_id, func.count(Response.id), overdue)
            .where(Response.follow_up_state == "open")
            .group_by(Response.stage_id),
            workspace_id,
        )
    )
    return {stage_id: (int(count), int(late or 0)) for stage_id, count, late in rows}


@dataclass(frozen=True)
class DigestItem:
    """One new unhappy answer as a digest lists it."""

    stage: str
    touchpoint: str
    rating: int
    scale_high: int
    excerpt: str | None
    submitted_at: dt.datetime
    due_at: dt.datetime | None
    link: str


def _excerpt(comment: str | None) -> str | None:
    if not comment:
        return None
    text = " ".join(comment.split())
    return text if len(text) <= DIGEST_EXCERPT else text[: DIGEST_EXCERPT - 1].rstrip() + "…"


def queue_follow_up_digests(
    session: Session, now: dt.datetime, *, base_url: str, limit: int = 100
) -> int:
    """Email each owner of a workspace the unhappy answers that arrived since its last digest.

    One email per owner per workspace (through the outbox, in the caller's
    transaction), listing the follow-ups still open that were submitted after
    the previous digest (or the workspace's creation) and at least
    DIGEST_SETTLE ago. A workspace gets at most one digest per
    DIGEST_INTERVAL; nothing new, no email. The workspace is claimed with a
    guarded UPDATE first, so several workers never send the same digest.
    Returns how many emails were queued.
    """
    # On SQLite, a transaction that reads and then writes fails at once if
    # another connection wrote in between; holding the write lock first makes
    # it wait its turn (the worker runs this once a minute, briefly).
    lock_for_writing(session)
    cutoff = now - DIGEST_SETTLE
    since = func.coalesce(Workspace.follow_up_digest_at, Workspace.created_at)
    may_send = or_(
        Workspace.follow_up_digest_at.is_(None),
        Workspace.follow_up_digest_at <= cutoff - DIGEST_INTERVAL,
    )
    has_news = exists().where(
        Response.workspace_id == Workspace.id,
        Response.follow_up_state == "open",
        Response.submitted_at > since,
        Response.submitted_at <= cutoff,
    )
    candidates = session.execute(
        select(Workspace.id, since).where(may_send, has_news).order_by(Workspace.id).limit(limit)
    ).all()
    queued = 0
    for workspace_id, digested_until in candidates:
        claimed = rowcount(
            session.execute(
                update(Workspace)
                .where(Workspace.id == workspace_id, may_send)
                .values(follow_up_digest_at=cutoff)
                .execution_options(synchronize_session=False)
            )
        )
        if claimed != 1:
            continue
        workspace = session.get(Workspace, workspace_id, populate_existing=True)
        assert workspace is not None
        queued += _queue_digest(session, workspace, digested_until, cutoff, base_url, now)
    return queued


def _queue_digest(
    session: Session,
    workspace: Workspace,
    since: dt.datetime,
    cutoff: dt.datetime,
    base_url: str,
    now: dt.datetime,
) -> int:
    where = (
        Response.follow_up_state == "open",
        Response.submitted_at > since,
        Response.submitted_at <= cutoff,
    )
    count = workspace_scoped(select(func.count(Response.id)).where(*where), workspace.id)
    total = session.scalar(count) or 0
    responses = session.scalars(
        workspace_scoped(
            select(Response)
            .options(joinedload(Response.stage), joinedload(Response.touchpoint))
            .where(*where)
            .order_by(Response.submitted_at, Response.id)
            .limit(DIGEST_LIST_MAX),
            workspace.id,
        )
    ).all()
    owners = session.scalars(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.workspace_id == workspace.id, Membership.role == "owner")
        .order_by(User.id)
    ).all()
    if not responses or not owners:
        return 0
    base = base_url.rstrip("/")
    items = [
        DigestItem(
            stage=r.stage.name,
            touchpoint=r.touchpoint.name,
            rating=r.rating,
            scale_high=r.stage.rating_scale.high,
            excerpt=_excerpt(r.comment),
            submitted_at=r.submitted_at,
            due_at=r.follow_up_due_at,
            link=f"{base}/follow-ups/{r.id}",
        )
        for r in responses
    ]
    digest = compose(
        "follow-up-digest",
        to=owners[0].email,
        data={
            "workspace": workspace,
            "items": items,
            "total": total,
            "more": total - len(items),
            "queue_link": f"{base}/follow-ups",
        },
        base_url=base_url,
        meta={"follow_up_digest": workspace.id},
        # Links only to owner pages (login needed): kept if it gives up, for a Retry.
        links=False,
    )
    stamp = cutoff.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    # Rendered once: every owner gets the same words.
    for owner in owners:
        addressed = replace(
            digest, to=owner.email, dedupe_key=f"follow-up-digest:{owner.id}:{stamp}"
        )
        enqueue_email(session, workspace.id, **vars(addressed), now=now)
    return len(owners)
