"""Logging in and out."""

from __future__ import annotations

from dataclasses import fields
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from feedback.accounts import services
from feedback.accounts.auth import current_workspace, workspace_required
from feedback.accounts.forms import ApiKeyForm, EmptyForm, LoginForm, SettingsForm
from feedback.db import utcnow
from feedback.extensions import db, limiter

bp = Blueprint("accounts", __name__)


def _safe_next(target: str | None) -> str:
    """Only same-site paths, so the login page cannot be used to redirect elsewhere."""
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and "\\" not in target:
            return target
    return url_for("insights.dashboard")


@bp.get("/")
def index() -> Response:
    if current_user.is_authenticated:
        return redirect(url_for("insights.dashboard"))
    return redirect(url_for("accounts.login"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def login() -> Response | str | tuple[str, int]:
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(db.session, form.email.data, form.password.data, utcnow())
        if user is not None:
            db.session.commit()
            login_user(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")))
        form.password.errors = ["That email and password do not match an account."]
    status = 422 if form.is_submitted() else 200
    return render_template("accounts/login.html", form=form), status


@bp.post("/logout")
def logout() -> Response:
    if EmptyForm().validate_on_submit():
        logout_user()
        flash("You are logged out.")
    return redirect(url_for("accounts.login"))


@bp.route("/settings/api-keys", methods=["GET", "POST"])
@workspace_required
def api_keys() -> str | tuple[str, int]:
    """The workspace's API keys; a new key's secret is shown on this response only."""
    workspace = current_workspace()
    form = ApiKeyForm()
    issued = None
    status = 200
    if form.validate_on_submit():
        issued = services.create_api_key(
            db.session, workspace, form.name.data, utcnow(), created_by=current_user
        )
        db.session.commit()
        form = ApiKeyForm(formdata=None)
    elif form.is_submitted():
        status = 422
    keys = services.api_keys_of(db.session, workspace.id)
    return render_template(
        "accounts/api_keys.html",
        workspace=workspace,
        form=form,
        keys=keys,
        issued=issued,
        revoke_form=EmptyForm(),
    ), status


@bp.post("/settings/api-keys/<int:key_id>/revoke")
@workspace_required
def revoke_api_key(key_id: int) -> Response:
    workspace = current_workspace()
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        api_key = services.revoke_api_key(db.session, workspace.id, key_id, utcnow())
    except services.ApiKeyNotFound:
        abort(404)
    db.session.commit()
    flash(f"Key {api_key.prefix}… ({api_key.name}) is revoked: calls with it now get 401.")
    return redirect(url_for("accounts.api_keys"))


SETTINGS_FIELDS = tuple(f.name for f in fields(services.WorkspaceSettings))


@bp.route("/settings", methods=["GET", "POST"])
@workspace_required
def settings() -> Response | tuple[str, int]:
    """The business's name, look, sender, survey timing and consent wording."""
    workspace = current_workspace()
    form = SettingsForm(obj=workspace)
    if form.validate_on_submit():
        values = {name: getattr(form, name).data for name in SETTINGS_FIELDS}
        try:
            services.update_settings(db.session, workspace, services.WorkspaceSettings(**values))
        except services.SettingsError as error:
            db.session.rollback()
            getattr(form, error.field).errors = [error.message]
        else:
            db.session.commit()
            flash("Settings saved.")
            return redirect(url_for("accounts.settings"))
    status = 422 if form.errors else 200
    return render_template("accounts/settings.html", workspace=workspace, form=form), status
