"""Owner pages for webhooks and for how the survey emails are going."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    url_for,
)
from flask_login import current_user
from werkzeug.wrappers import Response

from feedback import access, transactions
from feedback.accounts.auth import current_workspace
from feedback.accounts.forms import EmptyForm
from feedback.db import utcnow
from feedback.delivery import mailbox, services, webhooks
from feedback.delivery.forms import WebhookForm
from feedback.extensions import db, limiter
from feedback.inputs import required

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
                required(form.url.data),
                required(form.events.data),
                utcnow(),
                allow_private=current_app.config["WEBHOOK_ALLOW_PRIVATE_NETWORKS"],
            )
        except webhooks.WebhookError as error:
            form.url.errors = [str(error)]
        else:
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
    flash("Webhook removed.")
    return redirect(url_for("delivery.webhooks_page"))


@bp.get("/settings/delivery")
@access.owner
def delivery_page() -> str:
    """Survey emails and webhook calls by status; the ones that gave up, with why."""
    workspace = current_workspace()
    now = utcnow()
    status = services.worker_status(db.session, workspace.id, now)
    waited = status.oldest_waited(now)
    return render_template(
        "delivery/delivery.html",
        workspace=workspace,
        overview=services.delivery_overview(db.session, workspace.id),
        worker=status,
        oldest_waited=None if waited is None else duration_text(waited),
        stale_after=duration_text(services.WORKER_STALE_AFTER),
        retry_form=EmptyForm(),
        test_form=EmptyForm(),
        mailbox_enabled=current_app.config["MAILBOX_ENABLED"],
    )


def duration_text(duration: dt.timedelta) -> str:
    """Roughly, as a person says it: "40 s", "12 min", "3 h", "2 days"."""
    seconds = max(int(duration.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def _per_user() -> str:
    return f"user:{current_user.get_id()}"


@bp.post("/settings/delivery/test-email")
@access.owner
# Each one is a real email to the owner's address: a handful is enough to test.
@limiter.limit("5 per hour", key_func=_per_user)
def send_test_email() -> Response:
    """Queue an email to the logged-in owner's own address, through the normal outbox."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    workspace = current_workspace()
    now = utcnow()
    services.queue_test_email(db.session, workspace.id, current_user.email, workspace.name, now)
    if services.worker_status(db.session, workspace.id, now).running:
        # The address is on the page, not in the flash: flashes travel in the cookie.
        flash("Test email queued to your address: it should arrive within a minute.")
    else:
        flash(
            "Test email queued to your address, but no worker is running: "
            "it waits until one starts (flask --app wsgi feedback worker)."
        )
    return redirect(url_for("delivery.delivery_page"))


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
        # The redirect would commit whatever remaking the email wrote before it gave up.
        transactions.discard_changes()
        flash(f"Not queued again: {error}")
        return redirect(url_for("delivery.delivery_page"))
    if not retried:
        abort(404)
    flash("Queued again: the worker will try it once more.")
    return redirect(url_for("delivery.delivery_page"))


# The message page shows the email's HTML in a sandboxed srcdoc frame, which
# inherits this page's policy: the app's own (no script, inline styles as the
# emails use them), with frames said explicitly to be this site's only, so the
# page says what it embeds instead of relying on default-src.
MAILBOX_MESSAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; form-action 'self'; frame-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)


def _mailbox_folder() -> Path:
    """The development mailbox; 404 where it is off (production, tests unless enabled)."""
    if not current_app.config.get("MAILBOX_ENABLED"):
        abort(404)
    return Path(current_app.config["MAILBOX_PATH"])


@bp.get("/settings/delivery/mailbox")
@access.owner
def mailbox_page() -> str:
    """The emails the development worker kept locally, newest first."""
    folder = _mailbox_folder()
    return render_template(
        "delivery/mailbox.html",
        workspace=current_workspace(),
        messages=mailbox.list_messages(folder),
        limit=mailbox.LIST_LIMIT,
    )


@bp.get("/settings/delivery/mailbox/<name>")
@access.owner
def mailbox_message(name: str) -> Response:
    """One kept email as the customer would see it: its HTML, its text, its headers."""
    message = mailbox.read_message(_mailbox_folder(), name)
    if message is None:
        abort(404)
    response = make_response(
        render_template(
            "delivery/mailbox_message.html",
            workspace=current_workspace(),
            message=message,
            framed_html=None if message.html is None else mailbox.framed_html(message.html),
        )
    )
    response.headers["Content-Security-Policy"] = MAILBOX_MESSAGE_POLICY
    return response
