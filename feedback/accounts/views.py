"""Logging in and out, passwords, the team, API keys and the workspace's settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as browser_session
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from feedback import access
from feedback.accounts import services
from feedback.accounts.auth import WORKSPACE_CHOICE, current_workspace
from feedback.accounts.forms import (
    ApiKeyForm,
    EmptyForm,
    ForgotPasswordForm,
    LoginForm,
    MemberForm,
    PasswordChangeForm,
    RoleForm,
    SetPasswordForm,
    SettingsForm,
    SwitchWorkspaceForm,
)
from feedback.accounts.models import User, Workspace
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
@access.public
def index() -> Response:
    if current_user.is_authenticated:
        return redirect(url_for("insights.dashboard"))
    return redirect(url_for("accounts.login"))


@bp.route("/login", methods=["GET", "POST"])
@access.public
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
@access.public
def logout() -> Response:
    if EmptyForm().validate_on_submit():
        logout_user()
        browser_session.pop(WORKSPACE_CHOICE, None)
        flash("You are logged out.")
    return redirect(url_for("accounts.login"))


@bp.post("/workspace")
@access.member
def switch_workspace() -> Response:
    """Work in another of your workspaces; its pages show from now on in this browser."""
    form = SwitchWorkspaceForm()
    if not form.validate_on_submit():
        abort(400)
    chosen = next((w for w in g.workspaces if str(w.id) == form.workspace_id.data), None)
    if chosen is None:
        abort(404)
    browser_session[WORKSPACE_CHOICE] = chosen.id
    flash(f"You are working in {chosen.name}.")
    return redirect(url_for("insights.dashboard"), code=303)


@bp.route("/settings/api-keys", methods=["GET", "POST"])
@access.owner
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
@access.owner
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
@access.owner
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


# -- passwords ---------------------------------------------------------------------------


def _show_field_error(form: FlaskForm, error: services.AccountFieldError) -> None:
    db.session.rollback()
    getattr(form, error.field).errors = [error.message]


@bp.route("/account/password", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
@access.member
def change_password() -> Response | tuple[str, int]:
    """Change your own password; every other session of yours ends with the old one."""
    user = current_user._get_current_object()
    form = PasswordChangeForm()
    if form.validate_on_submit():
        try:
            services.change_password(
                db.session, user, form.current_password.data, form.password.data, form.confirm.data
            )
        except services.AccountFieldError as error:
            _show_field_error(form, error)
        else:
            db.session.commit()
            login_user(user)  # this session carries the new password's fingerprint
            flash("Your password is changed, and you are logged out everywhere else.")
            return redirect(url_for("accounts.change_password"), code=303)
    status = 422 if form.errors else 200
    return render_template(
        "accounts/password.html", workspace=current_workspace(), form=form
    ), status


@bp.route("/password/set/<token>", methods=["GET", "POST"])
@access.public
@limiter.limit("10 per minute", methods=["POST"])
def set_password(token: str) -> Response | tuple[str, int]:
    """Choose a password from an invitation or reset link; the link then stops working."""
    user = services.user_for_password_link(
        db.session, current_app.config["SECRET_KEY"], token, utcnow()
    )
    if user is None:
        return render_template("accounts/password_link_gone.html"), 410
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            services.set_password(db.session, user, form.password.data, form.confirm.data)
        except services.AccountFieldError as error:
            _show_field_error(form, error)
        else:
            db.session.commit()
            login_user(user)
            flash("Your password is set. Welcome!")
            return redirect(url_for("insights.dashboard"), code=303)
    status = 422 if form.errors else 200
    return render_template("accounts/set_password.html", form=form, email=user.email), status


@bp.route("/password/forgot", methods=["GET", "POST"])
@access.public
@limiter.limit("5 per hour", methods=["POST"])
def forgot_password() -> str | tuple[str, int]:
    """Ask for a reset link by email; the answer is the same whether the account exists."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        services.request_password_reset(
            db.session,
            form.email.data,
            secret_key=current_app.config["SECRET_KEY"],
            base_url=current_app.config["BASE_URL"],
            now=utcnow(),
        )
        db.session.commit()
        return render_template("accounts/forgot_password.html", form=None, sent_to=form.email.data)
    status = 422 if form.errors else 200
    return render_template("accounts/forgot_password.html", form=form, sent_to=None), status


# -- the team ----------------------------------------------------------------------------


def _my_role() -> str | None:
    return services.role_in(db.session, current_workspace().id, current_user.id)


def _team_page(
    form: MemberForm | None = None,
    invited: dict[str, str] | None = None,
    problem: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    workspace = current_workspace()
    return render_template(
        "accounts/team.html",
        workspace=workspace,
        members=services.team_of(db.session, workspace.id),
        is_owner=_my_role() == "owner",
        form=form or MemberForm(formdata=None),
        role_form=RoleForm(formdata=None),
        remove_form=EmptyForm(formdata=None),
        invited=invited,
        problem=problem,
    ), status


@bp.get("/settings/team")
@access.member
def team() -> tuple[str, int]:
    """Who works in the workspace; owners add people, change roles and remove them."""
    return _team_page()


@bp.post("/settings/team")
@access.owner
def add_member() -> tuple[str, int]:
    workspace = current_workspace()
    form = MemberForm()
    if not form.validate():
        return _team_page(form, status=422)
    try:
        user, created = services.add_member(db.session, workspace, form.email.data, form.role.data)
    except services.AccountFieldError as error:
        _show_field_error(form, error)
        return _team_page(form, status=422)
    shown_link = _send_invitation(user, workspace, new_user=created)
    db.session.commit()
    return _team_page(invited={"email": user.email, "link": shown_link})


def _send_invitation(user: User, workspace: Workspace, *, new_user: bool) -> str:
    """Email a new user a link to choose a password, someone with an account the login page.

    Returns the password link to show the owner once ("" when there is none).
    """
    base_url = current_app.config["BASE_URL"]
    if new_user:
        token = services.password_link_token(current_app.config["SECRET_KEY"], user, "invite")
        link = services.password_link(base_url, token)
    else:
        link = f"{base_url.rstrip('/')}/login"
    services.enqueue_password_email(
        db.session,
        user,
        workspace,
        "invite" if new_user else "added",
        link=link,
        now=utcnow(),
        invited_by=current_user.email,
    )
    return link if new_user else ""


@bp.post("/settings/team/<int:user_id>/invite")
@access.owner
def invite_again(user_id: int) -> Response | tuple[str, int]:
    """A fresh invitation for someone who has not logged in yet (the first may have expired)."""
    workspace = current_workspace()
    if not EmptyForm().validate_on_submit():
        abort(400)
    if services.role_in(db.session, workspace.id, user_id) is None:
        abort(404)
    user = db.session.get(User, user_id)
    assert user is not None
    if user.last_login_at is not None:
        flash(
            f"{user.email} has logged in before: they can reset their password from the login page."
        )
        return redirect(url_for("accounts.team"), code=303)
    shown_link = _send_invitation(user, workspace, new_user=True)
    db.session.commit()
    return _team_page(invited={"email": user.email, "link": shown_link})


def _change_team(change: Callable[[], str]) -> Response | tuple[str, int]:
    """Carry out an owner's change to the team: its message, or the page with the reason."""
    try:
        message = change()
    except services.MemberNotFound:
        abort(404)
    except services.AccountError as error:
        db.session.rollback()
        return _team_page(problem=str(error), status=409)
    db.session.commit()
    flash(message)
    return redirect(url_for("accounts.team"), code=303)


@bp.post("/settings/team/<int:user_id>/role")
@access.owner
def change_role(user_id: int) -> Response | tuple[str, int]:
    form = RoleForm()
    if not form.validate():
        abort(400)

    def change() -> str:
        services.set_member_role(
            db.session, current_workspace().id, current_user, user_id, form.role.data
        )
        return "Role changed."

    return _change_team(change)


@bp.post("/settings/team/<int:user_id>/remove")
@access.owner
def remove_member(user_id: int) -> Response | tuple[str, int]:

    def change() -> str:
        user = services.remove_member(db.session, current_workspace().id, current_user, user_id)
        return f"{user.email} is no longer in the team."

    return _change_team(change)
