"""Public survey pages: the personal form and its thanks page."""

from __future__ import annotations

import csv
import io
import re
import secrets

import segno
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as browser_session
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError

from feedback import access, answers, metrics, transactions
from feedback.accounts.auth import current_workspace
from feedback.accounts.models import Workspace
from feedback.db import utcnow
from feedback.errors import csrf_failure_page
from feedback.extensions import csrf, db, limiter
from feedback.journey.scales import is_unhappy
from feedback.journey.services import NotInWorkspace, stage_of, stages_in_order
from feedback.surveys import emails, import_runner, imports, models, services, touchpoints
from feedback.surveys.forms import ImportForm, SurveyForm
from feedback.surveys.models import (
    CHANNEL_LABELS,
    COMMENT_MAX,
    DISPLAY_NAME_MAX,
    ROLE_MAX,
    Invitation,
)
from feedback.testimonials import consent
from feedback.testimonials.services import consent_text_for

bp = Blueprint("surveys", __name__)

SUBMISSION_KEY = re.compile(r"[0-9a-f]{32}")
# The signed session cookie carries the thanks page's consent link: one slot,
# overwritten by the next opt-in, so the cookie never grows.
CONSENT_SLOT = "consent_link"
STALE_FORM_NOTICE = (
    "This page was open for a long time, so we could not accept it yet. "
    "Your answer is still below: please press Send again."
)


def _problem(kind: str, status: int, workspace: Workspace | None = None) -> tuple[str, int]:
    return render_template("surveys/problem.html", kind=kind, workspace=workspace), status


def _load(token: str, *, opening: bool) -> Invitation | tuple[str, int]:
    """The survey link, or the friendly page that explains why it cannot be answered."""
    try:
        link = services.find_link(db.session, token)
    except services.InvitationNotFound:
        return _problem("not_found", 404)
    try:
        if opening:
            services.open_link(db.session, link, utcnow())
        else:
            services.check_answerable(link, utcnow())
    except services.InvitationNotFound:
        return _problem("not_found", 404)
    except services.AlreadyAnswered:
        return _problem("answered", 409, link.workspace)
    except services.InvitationExpired:
        transactions.commit_now("keeps the invitation's expired status behind the 410")
        return _problem("expired", 410, link.workspace)
    return link


def _answer_from(form: SurveyForm) -> services.Answer:
    return services.Answer(
        rating=form.rating.data,
        comment=form.comment.data,
        testimonial_opt_in=form.testimonial_opt_in.data,
        display_name=form.display_name.data,
        display_role=form.display_role.data,
        channels=tuple(form.channels.data or ()),
    )


def _is_unhappy(response: models.Response, scale_key: str) -> bool:
    """Whether the thanks page says the business will get back: as the follow-up decided."""
    return is_unhappy(scale_key, response.rating, response.sentiment_label)


def _keep_consent_link(place: str, token: str | None) -> None:
    """Hand the thanks page (and only the one for `place`) the new consent link."""
    if token is not None:
        browser_session[CONSENT_SLOT] = {"for": place, "token": token}


def _consent_for(place: str) -> dict[str, object]:
    """The consent this browser just gave on `place`'s form, for the thanks page.

    Not popped: reloading the thanks page still shows the link.
    """
    kept = browser_session.get(CONSENT_SLOT)
    if not isinstance(kept, dict) or kept.get("for") != place:
        return {"consent": None}
    token = str(kept.get("token", ""))
    try:
        given = consent.find_consent(db.session, token)
    except consent.ConsentNotFound:
        return {"consent": None}
    return {
        "consent": given,
        "consent_token": token,
        "channels": consent.channels_text(given.testimonial),
    }


def _render_form(
    link: Invitation | services.OpenLink,
    form: SurveyForm,
    status: int = 200,
    notice: str | None = None,
    submission_key: str | None = None,
) -> tuple[str, int]:
    return render_template(
        "surveys/form.html",
        form=form,
        workspace=link.workspace,
        stage=link.stage,
        scale=link.stage.rating_scale,
        consent_text=consent_text_for(link.workspace),
        comment_max=COMMENT_MAX,
        display_name_max=DISPLAY_NAME_MAX,
        role_max=ROLE_MAX,
        channel_labels=CHANNEL_LABELS,
        notice=notice,
        submission_key=submission_key,
    ), status


@bp.route("/s/<token>", methods=["GET", "POST"])
@access.customer
def survey(token: str) -> ResponseReturnValue:
    """The personal survey form; a valid answer redirects to the thanks page."""
    loaded = _load(token, opening=True)
    if not isinstance(loaded, Invitation):
        return loaded
    link = loaded
    form = SurveyForm(link.stage)
    if not form.is_submitted():
        return _render_form(link, form)
    if not form.validate():
        transactions.commit_now("keeps the invitation's opened status behind the 422")
        return _render_form(link, form, 422)
    answer = _answer_from(form)
    try:
        submitted = answers.answer_survey(
            db.session, link, answer, base_url=current_app.config["BASE_URL"], now=utcnow()
        )
    except services.InvalidAnswer as error:
        getattr(form, error.field).errors = [error.message]
        return _render_form(link, form, 422)
    except services.AlreadyAnswered:
        return _problem("answered", 409, link.workspace)
    place = f"s:{link.id}"
    metrics.RESPONSES_SUBMITTED.inc()
    _keep_consent_link(place, submitted.consent_token)
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
        notice=STALE_FORM_NOTICE,
    )


@bp.get("/s/<token>/thanks")
@access.customer
def thanks(token: str) -> ResponseReturnValue:
    """Thanks by stage; an unhappy customer is told the business will get back to them."""
    try:
        link = services.find_link(db.session, token)
    except services.InvitationNotFound:
        return _problem("not_found", 404)
    response = services.response_for_invitation(db.session, link)
    if response is None:
        return redirect(url_for("surveys.survey", token=token))
    return render_template(
        "surveys/thanks.html",
        workspace=link.workspace,
        stage=link.stage,
        response=response,
        unhappy=_is_unhappy(response, link.stage.scale),
        **_consent_for(f"s:{link.id}"),
    )


@bp.route("/u/<token>", methods=["GET", "POST"])
@access.customer
@csrf.exempt
def unsubscribe(token: str) -> tuple[str, int] | str:
    """GET asks for confirmation (link scanners must not unsubscribe anyone); POST does it.

    The POST is exempt from CSRF checks: mail clients send RFC 8058 one-click
    unsubscribes (`List-Unsubscribe=One-Click`) without any page or cookie,
    and the signed token in the URL is what proves the request genuine.
    """
    contact = emails.contact_for_unsubscribe_token(
        db.session, current_app.config["SECRET_KEY"], token
    )
    if contact is None:
        return _problem("unsubscribe_not_found", 404)
    workspace = db.session.get(Workspace, contact.workspace_id)
    if request.method == "POST":
        services.unsubscribe(db.session, contact, utcnow())
        return render_template("surveys/unsubscribe.html", workspace=workspace, done=True)
    return render_template(
        "surveys/unsubscribe.html",
        workspace=workspace,
        done=contact.unsubscribed_at is not None,
    )


@bp.route("/touchpoints/import", methods=["GET", "POST"])
@access.owner
def import_touchpoints() -> ResponseReturnValue:
    """Upload a touchpoint CSV: stored as an import job, recorded in the background."""
    workspace = current_workspace()
    form = ImportForm()
    if form.validate_on_submit():
        try:
            rows = touchpoints.read_csv(form.csv_file.data.read())
        except touchpoints.CsvImportError as error:
            form.csv_file.errors = [str(error)]
        else:
            job = imports.create_import_job(
                db.session,
                workspace,
                rows,
                file_name=form.csv_file.data.filename or "",
                send=form.send.data,
                now=utcnow(),
            )
            transactions.commit_now("the background import reads the job in its own session")
            if job.state == "pending":
                import_runner.start_in_background(current_app._get_current_object(), job.id)  # type: ignore[attr-defined]
            return redirect(url_for("surveys.import_job", job_id=job.id), 303)
    status = 422 if form.errors else 200
    return render_template(
        "surveys/import.html",
        workspace=workspace,
        form=form,
        jobs=imports.recent_jobs(db.session, workspace.id),
        columns=touchpoints.CSV_COLUMNS,
        stages=[s for s in stages_in_order(db.session, workspace.id) if s.active],
    ), status


@bp.get("/touchpoints/import/<int:job_id>")
@access.owner
def import_job(job_id: int) -> str:
    """An import's progress while it runs (the page refreshes itself), then its report."""
    workspace = current_workspace()
    job = imports.job_in_workspace(db.session, workspace.id, job_id)
    if job is None:
        abort(404)
    if import_runner.is_stalled(job):
        # Its thread went with a stopped web process: carry on from here.
        import_runner.start_in_background(current_app._get_current_object(), job.id)  # type: ignore[attr-defined]
    return render_template(
        "surveys/import_job.html",
        workspace=workspace,
        job=job,
        rejected=imports.rejected_lines(db.session, job) if job.state != "pending" else [],
    )


@bp.get("/touchpoints/import/sample.csv")
@access.owner
def import_sample() -> Response:
    """A CSV to start from: the header and two rows naming this workspace's own keys."""
    workspace = current_workspace()
    stages = [s for s in stages_in_order(db.session, workspace.id) if s.active and s.touchpoints]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(touchpoints.CSV_COLUMNS)
    for n, stage in enumerate(stages[:2], start=1):
        writer.writerow(
            [
                f"customer{n}@example.com",
                f"Customer {n}",
                stage.key,
                stage.touchpoints[0].key,
                f"order-100{n}",
                "2026-01-15T10:30:00+00:00",
            ]
        )
    response = Response(buffer.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{workspace.slug}-sample.csv"'
    return response


def _open_link_or_404(workspace_slug: str, stage_key: str) -> services.OpenLink:
    try:
        return services.find_open_link(
            db.session, workspace_slug, stage_key, request.args.get("tp") or None
        )
    except services.UnknownOpenLink:
        abort(404)


@bp.route("/f/<workspace_slug>/<stage_key>", methods=["GET", "POST"])
@access.public
@limiter.limit("30 per hour", methods=["POST"])
def open_survey(workspace_slug: str, stage_key: str) -> ResponseReturnValue:
    """A stage's open survey (QR code, receipt link): anyone may answer, once per form."""
    link = _open_link_or_404(workspace_slug, stage_key)
    form = SurveyForm(link.stage)
    key = _submission_key()
    if not form.is_submitted():
        return _render_form(link, form, submission_key=key)
    if not form.validate():
        return _render_form(link, form, 422, submission_key=key)
    answer = _answer_from(form)
    try:
        submitted = answers.answer_open_survey(
            db.session, link, answer, key, base_url=current_app.config["BASE_URL"], now=utcnow()
        )
    except services.InvalidAnswer as error:
        getattr(form, error.field).errors = [error.message]
        return _render_form(link, form, 422, submission_key=key)
    # None: this very form was sent before, and its consent was handled then.
    stored = (
        submitted.response
        if submitted is not None
        else services.open_response(db.session, link.workspace.id, key)
    )
    unhappy = stored is not None and _is_unhappy(stored, link.stage.scale)
    if submitted is not None:
        metrics.RESPONSES_SUBMITTED.inc()
    _keep_consent_link(_open_place(link), submitted.consent_token if submitted else None)
    return redirect(
        url_for(
            "surveys.open_thanks",
            workspace_slug=workspace_slug,
            stage_key=stage_key,
            unhappy=int(unhappy) or None,
        ),
        code=303,
    )


def _submission_key() -> str:
    """The form's own key, or a new one for a fresh (or tampered) form."""
    key = request.form.get("submission_key", "")
    return key if SUBMISSION_KEY.fullmatch(key) else secrets.token_hex(16)


def open_survey_after_csrf_failure(workspace_slug: str, stage_key: str) -> tuple[str, int]:
    """As for personal links: the answer comes back on the form, nothing is lost."""
    link = _open_link_or_404(workspace_slug, stage_key)
    return _render_form(
        link,
        SurveyForm(link.stage),
        400,
        notice=STALE_FORM_NOTICE,
        submission_key=_submission_key(),
    )


@bp.errorhandler(CSRFError)
def stale_form(error: CSRFError) -> tuple[str, int]:
    """A customer's survey form left open too long comes back with their answer on it;
    the owner's forms here (import, preview) get the general page."""
    # Flask routes CSRFProtect's before_request error here once the URL matched this
    # blueprint; the view matched says which form it was.
    view = current_app.view_functions.get(request.endpoint or "")
    if view is survey:
        return survey_after_csrf_failure((request.view_args or {})["token"], error)
    if view is open_survey:
        return open_survey_after_csrf_failure(**(request.view_args or {}))
    return csrf_failure_page()


@bp.get("/f/<workspace_slug>/<stage_key>/thanks")
@access.public
def open_thanks(workspace_slug: str, stage_key: str) -> str:
    link = _open_link_or_404(workspace_slug, stage_key)
    return render_template(
        "surveys/thanks.html",
        workspace=link.workspace,
        stage=link.stage,
        response=None,
        unhappy=request.args.get("unhappy") == "1",
        anonymous=True,
        **_consent_for(_open_place(link)),
    )


def _open_place(link: services.OpenLink) -> str:
    # By id, not slug: the key stays right if the owner renames the workspace meanwhile.
    return f"f:{link.workspace.id}:{link.stage.id}"


def _open_link_url(workspace: Workspace, stage_key: str, touchpoint_key: str | None) -> str:
    base = current_app.config["BASE_URL"].rstrip("/")
    url = f"{base}/f/{workspace.slug}/{stage_key}"
    return f"{url}?tp={touchpoint_key}" if touchpoint_key else url


PREVIEW_NOTICE = (
    "Preview: this is what customers see for this stage. Nothing sent from here is stored."
)


@bp.route("/settings/journey/<int:stage_id>/preview", methods=["GET", "POST"])
@access.owner
def preview(stage_id: int) -> tuple[str, int]:
    """A stage's form as customers see it, for the owner to try; answers are checked, not kept."""
    workspace = current_workspace()
    try:
        stage = stage_of(db.session, workspace.id, stage_id)
    except NotInWorkspace:
        abort(404)
    link = services.OpenLink(workspace, stage, None)
    form = SurveyForm(stage)
    if not form.is_submitted():
        return _render_form(link, form, notice=PREVIEW_NOTICE)
    if form.validate():
        try:
            services.validated_answer(stage, _answer_from(form))
        except services.InvalidAnswer as error:
            getattr(form, error.field).errors = [error.message]
    if form.errors:
        return _render_form(link, form, 422, notice=PREVIEW_NOTICE)
    return _render_form(
        link,
        form,
        notice=f"That answer would be accepted, and the customer would read: “{stage.thank_you}” "
        "Nothing was stored.",
    )


@bp.get("/settings/links")
@access.owner
def open_links() -> str:
    """Every stage's open link, per touchpoint, with a QR code ready to print."""
    workspace = current_workspace()
    stages = stages_in_order(db.session, workspace.id)
    links = [
        (stage, touchpoint, _open_link_url(workspace, stage.key, touchpoint.key))
        for stage in stages
        if stage.active
        for touchpoint in stage.touchpoints
    ]
    qr_svgs = {url: segno.make(url, error="m").svg_inline(scale=3) for _s, _t, url in links}
    return render_template(
        "surveys/open_links.html", workspace=workspace, links=links, qr_svgs=qr_svgs
    )


@bp.get("/settings/links/<stage_key>/qr.<fmt>")
@access.owner
def open_link_qr(stage_key: str, fmt: str) -> Response:
    """The QR code of an open link as PNG or SVG, for print."""
    workspace = current_workspace()
    if fmt not in ("png", "svg"):
        abort(404)
    try:
        link = services.find_open_link(
            db.session, workspace.slug, stage_key, request.args.get("tp") or None
        )
    except services.UnknownOpenLink:
        abort(404)
    url = _open_link_url(
        workspace, link.stage.key, link.touchpoint.key if link.touchpoint else None
    )
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind=fmt, scale=10, border=4)
    name = f"{workspace.slug}-{link.stage.key}" + (
        f"-{link.touchpoint.key}" if link.touchpoint else ""
    )
    response = Response(
        buffer.getvalue(), mimetype="image/png" if fmt == "png" else "image/svg+xml"
    )
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response
