"""Owner pages: the follow-up queue, one follow-up, and what can be done to it."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from werkzeug.wrappers import Response

from feedback import access, transactions
from feedback.accounts.auth import current_workspace
from feedback.accounts.forms import EmptyForm
from feedback.accounts.models import User
from feedback.accounts.services import members_of
from feedback.db import utcnow
from feedback.extensions import db
from feedback.followups import services
from feedback.followups.forms import AssignForm, NoteForm, ResolveForm
from feedback.inputs import DB_INT_MAX
from feedback.paging import usable_cursor

bp = Blueprint("followups", __name__)

SHOW_LABELS = {
    "open": "Open",
    "overdue": "Overdue",
    "mine": "Assigned to me",
    "resolved": "Resolved",
    "all": "All",
}


@bp.get("/follow-ups")
@access.member
def queue() -> tuple[str, int]:
    """Unhappy answers to get back to: open ones by default, overdue first."""
    workspace = current_workspace()
    show = request.args.get("show", "open")
    if show not in services.SHOWS:
        show = "open"
    stages = services.stages_of(db.session, workspace.id)
    stage_key = request.args.get("stage")
    stage = next((s for s in stages if s.key == stage_key), None)
    cursor, bad_cursor = usable_cursor(request.args, services.cursor_kinds(show))
    page = services.follow_ups_page(
        db.session,
        workspace.id,
        utcnow(),
        show=show,
        stage=stage,
        user_id=current_user.id,
        cursor=cursor,
    )
    return render_template(
        "followups/queue.html",
        workspace=workspace,
        page=page,
        stages=stages,
        show_labels=SHOW_LABELS,
        bad_cursor=bad_cursor,
    ), 400 if bad_cursor else 200


@bp.get("/follow-ups/<int:response_id>")
@access.member
def follow_up(response_id: int) -> str:
    """One follow-up: the answer, its notes, and forms to assign, note, resolve or reopen."""
    return _detail_page(response_id)[0]


def _detail_page(
    response_id: int,
    *,
    assign_form: AssignForm | None = None,
    note_form: NoteForm | None = None,
    resolve_form: ResolveForm | None = None,
    status: int = 200,
) -> tuple[str, int]:
    workspace = current_workspace()
    try:
        item = services.get_follow_up(db.session, workspace.id, response_id, utcnow())
    except services.FollowUpNotFound:
        abort(404)
    members = members_of(db.session, workspace.id)
    # Forms not being re-shown with their errors start empty (formdata=None):
    # otherwise each would pick up whatever the failed POST sent.
    if assign_form is None:
        assign_form = AssignForm(formdata=None, assignee=str(item.response.assignee_id or ""))
    assign_form.assignee.choices = [("", "Nobody")] + [
        (str(member.id), member.email) for member in members
    ]
    return render_template(
        "followups/follow_up.html",
        workspace=workspace,
        item=item,
        response=item.response,
        assign_form=assign_form,
        note_form=note_form or NoteForm(formdata=None),
        resolve_form=resolve_form or ResolveForm(formdata=None),
        reopen_form=EmptyForm(formdata=None),
        note_max=services.NOTE_MAX,
    ), status


def _back(response_id: int) -> Response:
    return redirect(url_for("followups.follow_up", response_id=response_id), code=303)


def _user_id(value: str) -> int | None:
    if value == "":
        return None
    # Digits only, and an id a column can hold (PostgreSQL refuses a larger one).
    if not re.fullmatch(r"[0-9]{1,10}", value) or int(value) > DB_INT_MAX:
        raise services.UnknownAssignee("Choose someone from the list.")
    return int(value)


@bp.post("/follow-ups/<int:response_id>/assign")
@access.member
def assign(response_id: int) -> Response | tuple[str, int]:
    form = AssignForm()
    if not form.validate_on_submit():
        abort(400)
    workspace = current_workspace()
    try:
        user_id = _user_id(form.assignee.data or "")
        before = services.get_follow_up(db.session, workspace.id, response_id, utcnow())
        was_assigned_to = before.response.assignee_id
        response = services.assign_follow_up(db.session, workspace.id, response_id, user_id)
    except services.FollowUpNotFound:
        abort(404)
    except services.UnknownAssignee as error:
        transactions.discard_changes()
        form.assignee.errors = [str(error)]
        return _detail_page(response_id, assign_form=form, status=422)
    user = db.session.get(User, user_id) if user_id is not None else None
    # Someone else given the follow-up hears of it, once; giving it to yourself needs no email.
    if user is not None and user.id != current_user.id and was_assigned_to != user.id:
        services.notify_assignee(
            db.session,
            workspace,
            response,
            user,
            assigned_by=current_user.email,
            base_url=current_app.config["BASE_URL"],
            now=utcnow(),
        )
    flash(f"Assigned to {user.email}." if user else "Assigned to nobody.")
    return _back(response_id)


@bp.post("/follow-ups/<int:response_id>/notes")
@access.member
def add_note(response_id: int) -> Response | tuple[str, int]:
    form = NoteForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        services.add_note(
            db.session,
            current_workspace().id,
            response_id,
            form.note.data,
            utcnow(),
            author=current_user.email,
        )
    except services.FollowUpNotFound:
        abort(404)
    except services.InvalidNote as error:
        transactions.discard_changes()
        form.note.errors = [str(error)]
        return _detail_page(response_id, note_form=form, status=422)
    flash("Note added.")
    return _back(response_id)


@bp.post("/follow-ups/<int:response_id>/resolve")
@access.member
def resolve(response_id: int) -> Response | tuple[str, int]:
    form = ResolveForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        services.resolve_follow_up(
            db.session,
            current_workspace().id,
            response_id,
            utcnow(),
            note=form.resolution.data,
            author=current_user.email,
        )
    except services.FollowUpNotFound:
        abort(404)
    except services.InvalidNote as error:
        transactions.discard_changes()
        form.resolution.errors = [str(error)]
        return _detail_page(response_id, resolve_form=form, status=422)
    except services.WrongState as error:
        # Usually the button pressed twice, or by two people: say so, change nothing.
        transactions.discard_changes()
        flash(str(error))
        return _back(response_id)
    flash("Resolved.")
    return _back(response_id)


def _change_state(response_id: int, change: Callable[[], object], done: str) -> Response:
    """A button that opens or reopens a follow-up; pressed twice, it says so and changes nothing."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        change()
    except services.FollowUpNotFound:
        abort(404)
    except services.WrongState as error:
        transactions.discard_changes()
        flash(str(error))
        return _back(response_id)
    flash(done)
    return _back(response_id)


@bp.post("/follow-ups/<int:response_id>/start")
@access.member
def start(response_id: int) -> Response:
    """Follow up an answer that did not ask for it by its rating or comment."""
    workspace = current_workspace()
    return _change_state(
        response_id,
        lambda: services.start_follow_up(
            db.session, workspace.id, response_id, utcnow(), workspace.follow_up_sla_hours
        ),
        "Follow-up opened: it is in the queue now.",
    )


@bp.post("/follow-ups/<int:response_id>/reopen")
@access.member
def reopen(response_id: int) -> Response:
    return _change_state(
        response_id,
        lambda: services.reopen_follow_up(db.session, current_workspace().id, response_id),
        "Reopened.",
    )
