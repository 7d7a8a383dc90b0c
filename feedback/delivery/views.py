"""Owner pages for webhooks and for how the survey emails are going."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from werkzeug.wrappers import Response

from feedback import access
from feedback.accounts.auth import current_workspace
from feedback.accounts.forms import EmptyForm
from feedback.db import utcnow
from feedback.delivery import services, webhooks
from feedback.delivery.forms import WebhookForm
from feedback.extensions import db

bp = Blueprint("delivery", __name__)


@bp.route("/settings/webhooks", methods=["GET", "POST"])
@access.owner
def webhooks_page() -> Response | tuple[str, int]:
    """Registered webhooks with their signing secrets; add one."""
    workspace = current_workspace()
    form = WebhookForm()
    if form.validate_on_submit():
        try:
            webhooks.register_webhook(
                db.session,
                workspace.id,
                form.url.data,
                form.events.data,
                utcnow(),
                allow_private=current_app.config["WEBHOOK_ALLOW_PRIVATE_NETWORKS"],
            )
        except webhooks.WebhookError as error:
            form.url.errors = [str(error)]
        else:
            db.session.commit()
            flash("Webhook added.")
            return redirect(url_for("delivery.webhooks_page"))
    status = 422 if form.errors else 200
    return render_template(
        "delivery/webhooks.html",
        workspace=workspace,
        form=form,
        endpoints=webhooks.webhooks_of(db.session, workspace.id),
        remove_form=EmptyForm(),
        header=webhooks.SIGNATURE_HEADER,
        allow_private=current_app.config["WEBHOOK_ALLOW_PRIVATE_NETWORKS"],
        connect_timeout=webhooks.CONNECT_TIMEOUT,
        total_timeout=webhooks.TOTAL_TIMEOUT,
    ), status


@bp.post("/settings/webhooks/<int:endpoint_id>/remove")
@access.owner
def remove_webhook(endpoint_id: int) -> Response:
    if not EmptyForm().validate_on_submit():
        abort(400)
    if not webhooks.remove_webhook(db.session, current_workspace().id, endpoint_id):
        abort(404)
    db.session.commit()
    flash("Webhook removed.")
    return redirect(url_for("delivery.webhooks_page"))


@bp.get("/settings/delivery")
@access.owner
def delivery_page() -> str:
    """Survey emails and webhook calls by status; the ones that gave up, with why."""
    workspace = current_workspace()
    return render_template(
        "delivery/delivery.html",
        workspace=workspace,
        overview=services.delivery_overview(db.session, workspace.id),
        retry_form=EmptyForm(),
    )


@bp.post("/settings/delivery/<int:message_id>/retry")
@access.owner
def retry_message(message_id: int) -> Response:
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        retried = services.retry_failed(
            db.session,
            current_workspace().id,
            message_id,
            utcnow(),
            base_url=current_app.config["BASE_URL"],
            secret_key=current_app.config["SECRET_KEY"],
        )
    except services.NotRetryable as error:
        flash(f"Not queued again: {error}")
        return redirect(url_for("delivery.delivery_page"))
    if not retried:
        abort(404)
    db.session.commit()
    flash("Queued again: the worker will try it once more.")
    return redirect(url_for("delivery.delivery_page"))
