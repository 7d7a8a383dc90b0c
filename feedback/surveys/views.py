"""Public survey pages: the personal form and its thanks page."""

from __future__ import annotations

from flask import Blueprint, Response, redirect, render_template, url_for
from flask_wtf.csrf import CSRFError

from feedback.accounts.models import Workspace
from feedback.db import utcnow
from feedback.extensions import db
from feedback.insights.services import is_unhappy
from feedback.surveys import services
from feedback.surveys.forms import SurveyForm
from feedback.surveys.models import COMMENT_MAX, DISPLAY_NAME_MAX, Invitation
from feedback.testimonials.services import consent_text_for

bp = Blueprint("surveys", __name__)


def _problem(kind: str, status: int, workspace: Workspace | None = None) -> tuple[str, int]:
    return render_template("surveys/problem.html", kind=kind, workspace=workspace), status


def _load(token: str, *, opening: bool) -> Invitation | tuple[str, int]:
    """The invitation, or the friendly page that explains why it cannot be answered."""
    try:
        invitation = services.invitation_for_token(db.session, token)
    except services.InvitationNotFound:
        return _problem("not_found", 404)
    try:
        if opening:
            services.open_invitation(invitation, utcnow())
        else:
            services.check_answerable(invitation, utcnow())
    except services.AlreadyAnswered:
        return _problem("answered", 409, invitation.workspace)
    except services.InvitationExpired:
        db.session.commit()  # keeps the "expired" status
        return _problem("expired", 410, invitation.workspace)
    return invitation


def _render_form(
    invitation: Invitation, form: SurveyForm, status: int = 200, notice: str | None = None
) -> tuple[str, int]:
    workspace = invitation.workspace
    assert workspace is not None
    return render_template(
        "surveys/form.html",
        form=form,
        workspace=workspace,
        stage=invitation.stage,
        scale=invitation.stage.rating_scale,
        consent_text=consent_text_for(workspace),
        comment_max=COMMENT_MAX,
        display_name_max=DISPLAY_NAME_MAX,
        notice=notice,
    ), status


@bp.route("/s/<token>", methods=["GET", "POST"])
def survey(token: str) -> Response | tuple[str, int]:
    """The personal survey form; a valid answer redirects to the thanks page."""
    loaded = _load(token, opening=True)
    if not isinstance(loaded, Invitation):
        return loaded
    invitation = loaded
    form = SurveyForm(invitation.stage)
    if not form.is_submitted():
        db.session.commit()  # keeps the "opened" status
        return _render_form(invitation, form)
    if not form.validate():
        db.session.commit()
        return _render_form(invitation, form, 422)
    workspace = invitation.workspace
    assert workspace is not None
    answer = services.Answer(
        rating=form.rating.data,
        comment=form.comment.data,
        testimonial_opt_in=form.testimonial_opt_in.data,
        display_name=form.display_name.data,
    )
    try:
        services.submit_response(db.session, workspace, invitation, answer, utcnow())
    except services.InvalidAnswer as error:
        db.session.rollback()
        getattr(form, error.field).errors = [error.message]
        return _render_form(services.invitation_for_token(db.session, token), form, 422)
    except services.AlreadyAnswered:
        db.session.rollback()
        return _problem("answered", 409, workspace)
    db.session.commit()
    return redirect(url_for("surveys.thanks", token=token), code=303)


def survey_after_csrf_failure(token: str, error: CSRFError) -> tuple[str, int]:
    """Show the form again with what the customer typed, so a stale page loses nothing."""
    loaded = _load(token, opening=False)
    if not isinstance(loaded, Invitation):
        return loaded
    form = SurveyForm(loaded.stage)
    return _render_form(
        loaded,
        form,
        400,
        notice="This page was open for a long time, so we could not accept it yet. "
        "Your answer is still below: please press Send again.",
    )


@bp.get("/s/<token>/thanks")
def thanks(token: str) -> Response | tuple[str, int]:
    """Thanks by stage; an unhappy customer is told the business will get back to them."""
    try:
        invitation = services.invitation_for_token(db.session, token)
    except services.InvitationNotFound:
        return _problem("not_found", 404)
    response = services.response_for_invitation(db.session, invitation)
    if response is None:
        return redirect(url_for("surveys.survey", token=token))
    workspace = invitation.workspace
    return render_template(
        "surveys/thanks.html",
        workspace=workspace,
        stage=invitation.stage,
        response=response,
        unhappy=is_unhappy(response, invitation.stage.scale),
    )
