"""The owner's journey setup: stages in order, their wording and scale, their touchpoints."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from feedback import access, transactions
from feedback.accounts.auth import current_workspace
from feedback.accounts.forms import EmptyForm
from feedback.extensions import db
from feedback.inputs import required
from feedback.journey import editing, services
from feedback.journey.forms import MoveForm, NewStageForm, StageForm, TouchpointForm
from feedback.journey.models import Stage, Touchpoint
from feedback.journey.scales import SCALES

bp = Blueprint("journey", __name__)


def _stage_or_404(stage_id: int) -> Stage:
    try:
        return services.stage_of(db.session, current_workspace().id, stage_id)
    except services.NotInWorkspace:
        abort(404)


def _touchpoint_or_404(stage: Stage, touchpoint_id: int) -> Touchpoint:
    try:
        return services.touchpoint_of(db.session, stage, touchpoint_id)
    except services.NotInWorkspace:
        abort(404)


def _refuse(form: FlaskForm, error: services.JourneyError) -> None:
    """Undo the half-made change and show the service's reason at its field.

    Discarding expires what the session holds; the stage reloads as the page reads it.
    """
    transactions.discard_changes()
    field = getattr(form, error.field, None)
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)


def _overview(new_stage: NewStageForm | None = None, status: int = 200) -> tuple[str, int]:
    workspace = current_workspace()
    return render_template(
        "journey/overview.html",
        workspace=workspace,
        stages=services.stages_in_order(db.session, workspace.id),
        scales=SCALES,
        new_stage=new_stage or NewStageForm(formdata=None),
        move_form=MoveForm(formdata=None),
    ), status


@bp.get("/settings/journey")
@access.owner
def overview() -> tuple[str, int]:
    """The stages in journey order with their touchpoints, and a form to add a stage."""
    return _overview()


@bp.post("/settings/journey")
@access.owner
def create_stage() -> Response | tuple[str, int]:
    form = NewStageForm()
    if form.validate():
        try:
            stage = services.add_stage(
                db.session, current_workspace(), required(form.name.data), form.scale.data
            )
        except services.JourneyError as error:
            _refuse(form, error)
        else:
            flash(f"Stage “{stage.name}” added at the end of the journey. Add its touchpoints.")
            return redirect(url_for("journey.stage", stage_id=stage.id), code=303)
    return _overview(new_stage=form, status=422)


@bp.post("/settings/journey/<int:stage_id>/move")
@access.owner
def move_stage(stage_id: int) -> Response:
    stage = _stage_or_404(stage_id)
    form = MoveForm()
    if not form.validate():
        abort(400)
    services.move_stage(db.session, stage, -1 if form.direction.data == "up" else 1)
    return redirect(url_for("journey.overview"), code=303)


def _stage_page(
    stage: Stage,
    *,
    stage_form: StageForm | None = None,
    edited: tuple[int, TouchpointForm] | None = None,
    new_touchpoint: TouchpointForm | None = None,
    problem: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    """The stage's page; a form that was just sent and refused keeps what was typed."""
    touchpoint_forms = {
        t.id: edited[1]
        if edited and edited[0] == t.id
        else TouchpointForm(formdata=None, obj=t, prefix=f"tp{t.id}")
        for t in stage.touchpoints
    }
    return render_template(
        "journey/stage.html",
        workspace=current_workspace(),
        stage=stage,
        has_answers=editing.stage_has_responses(db.session, stage),
        removable=not editing.stage_in_use(db.session, stage),
        form=stage_form or StageForm(formdata=None, obj=stage),
        touchpoint_forms=touchpoint_forms,
        in_use={t.id: editing.touchpoint_in_use(db.session, t) for t in stage.touchpoints},
        new_touchpoint=new_touchpoint or TouchpointForm(formdata=None, prefix="new"),
        remove_form=EmptyForm(formdata=None),
        problem=problem,
    ), status


@bp.route("/settings/journey/<int:stage_id>", methods=["GET", "POST"])
@access.owner
def stage(stage_id: int) -> Response | tuple[str, int]:
    """A stage's name, wording, scale and whether it is active."""
    stage = _stage_or_404(stage_id)
    form = StageForm(obj=stage)
    if form.validate_on_submit():
        changes = services.StageChanges(
            name=required(form.name.data),
            question=required(form.question.data),
            comment_prompt=required(form.comment_prompt.data),
            thank_you=required(form.thank_you.data),
            scale=form.scale.data,
            active=form.active.data,
        )
        try:
            editing.update_stage(db.session, stage, changes)
        except services.JourneyError as error:
            _refuse(form, error)
        else:
            flash("Stage saved.")
            return redirect(url_for("journey.stage", stage_id=stage.id), code=303)
    return _stage_page(stage, stage_form=form, status=422 if form.errors else 200)


@bp.post("/settings/journey/<int:stage_id>/touchpoints")
@access.owner
def create_touchpoint(stage_id: int) -> Response | tuple[str, int]:
    stage = _stage_or_404(stage_id)
    form = TouchpointForm(prefix="new")
    if form.validate():
        try:
            touchpoint = services.add_touchpoint(
                db.session, stage, required(form.name.data), form.channel.data
            )
        except services.JourneyError as error:
            _refuse(form, error)
        else:
            flash(f"Touchpoint “{touchpoint.name}” added (key {touchpoint.key}).")
            return redirect(url_for("journey.stage", stage_id=stage.id), code=303)
    return _stage_page(stage, new_touchpoint=form, status=422)


@bp.post("/settings/journey/<int:stage_id>/touchpoints/<int:touchpoint_id>")
@access.owner
def edit_touchpoint(stage_id: int, touchpoint_id: int) -> Response | tuple[str, int]:
    stage = _stage_or_404(stage_id)
    touchpoint = _touchpoint_or_404(stage, touchpoint_id)
    form = TouchpointForm(prefix=f"tp{touchpoint.id}")
    if form.validate():
        try:
            services.update_touchpoint(
                db.session, touchpoint, required(form.name.data), form.channel.data
            )
        except services.JourneyError as error:
            _refuse(form, error)
        else:
            flash("Touchpoint saved.")
            return redirect(url_for("journey.stage", stage_id=stage.id), code=303)
    return _stage_page(stage, edited=(touchpoint_id, form), status=422)


@bp.post("/settings/journey/<int:stage_id>/touchpoints/<int:touchpoint_id>/remove")
@access.owner
def remove_touchpoint(stage_id: int, touchpoint_id: int) -> Response | tuple[str, int]:
    stage = _stage_or_404(stage_id)
    touchpoint = _touchpoint_or_404(stage, touchpoint_id)
    name = touchpoint.name
    try:
        editing.remove_touchpoint(db.session, touchpoint)
    except services.JourneyError as error:
        transactions.discard_changes()
        return _stage_page(stage, problem=error.message, status=409)
    flash(f"Touchpoint “{name}” removed.")
    return redirect(url_for("journey.stage", stage_id=stage_id), code=303)


@bp.post("/settings/journey/<int:stage_id>/remove")
@access.owner
def remove_stage(stage_id: int) -> Response | tuple[str, int]:
    stage = _stage_or_404(stage_id)
    name = stage.name
    try:
        editing.remove_stage(db.session, stage)
    except services.JourneyError as error:
        transactions.discard_changes()
        return _stage_page(stage, problem=error.message, status=409)
    flash(f"Stage “{name}” removed.")
    return redirect(url_for("journey.overview"), code=303)
