"""Logging in and out, passwords, the team, API keys and the workspace's settings."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import fields
from typing import Any
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

from feedback import access, transactions
from feedback.accounts import services
from feedback.accounts.auth import (
    WORKSPACE_CHOICE,
    current_workspace,
    note_session_in_use,
    session_token,
)
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
from feedback.accounts.models import User
from feedback.db import utcnow
from feedback.extensions import db, limiter
from feedback.followups.services import unassign_member
from feedback.inputs import required

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


# Load the user, and note that their session is in use, before any view runs.
bp.before_app_request(note_session_in_use)


def _log_in(user: User, *, remember: bool = False) -> None:
    """Start a server-side session for `user` in this browser (ending the one it had)."""
    now = utcnow()
    old_token = session_token()
    if old_token is not None:
        services.end_session(db.session, old_token)
    services.start_session(
        db.session, user, now, remembered=remember, user_agent=request.user_agent.string
    )
    # The remember-me cookie lasts as long as the longest session may.
    login_user(user, remember=remember, duration=services.SESSION_MAX_AGE)


@bp.route("/login", methods=["GET", "POST"])
@access.public
@limiter.limit("10 per minute", methods=["POST"])
def login() -> Response | str | tuple[str, int] | tuple[str, int, dict[str, str]]:
    form = LoginForm()
    if form.validate_on_submit():
        now = utcnow()
        try:
            # Counted (and committed, so every process sees it) before the password is
            # checked: concurrent guesses cannot slip past the limit.
            services.count_login_attempt(db.session, required(form.email.data), now)
        except services.LoginLocked as locked:
            transactions.commit_now("the attempt stays counted behind the 429")
            return _locked_out(form, locked.until - now)
        transactions.commit_now("counted, for every process, before the password is checked")
        user = services.authenticate(
            db.session, required(form.email.data), required(form.password.data)
        )
        if user is not None:
            transactions.commit_now("the read ends before the session's writes begin")
            _log_in(user, remember=bool(form.remember.data))
            return redirect(_safe_next(request.args.get("next")))
        form.password.errors = ["That email and password do not match an account."]
    status = 422 if form.is_submitted() else 200
    return render_template("accounts/login.html", form=form), status


def _locked_out(form: LoginForm, wait: dt.timedelta) -> tuple[str, int, dict[str, str]]:
    """The same answer whether or not the address has an account."""
    seconds = max(1, math.ceil(wait.total_seconds()))
    minutes = math.ceil(seconds / 60)
    form.password.errors = [
        f"Too many failed logins with this email. Please try again in {minutes} "
        f"minute{'s' if minutes != 1 else ''}, or choose a new password through "
        "“Forgot your password?”."
    ]
    page = render_template("accounts/login.html", form=form)
    return page, 429, {"Retry-After": str(seconds)}


@bp.post("/logout")
@access.public
def logout() -> Response:
    if EmptyForm().validate_on_submit():
        token = session_token()
        if token is not None:
            # Server-side: a copy of this browser's cookies stops working too.
            services.end_session(db.session, token)
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
            db.session, workspace, required(form.name.data), utcnow(), created_by=current_user
        )
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
            transactions.discard_changes()
            getattr(form, error.field).errors = [error.message]
        else:
            flash("Settings saved.")
            return redirect(url_for("accounts.settings"))
    status = 422 if form.errors else 200
    return render_template("accounts/settings.html", workspace=workspace, form=form), status


# -- passwords ---------------------------------------------------------------------------


def _show_field_error(form: FlaskForm, error: services.AccountFieldError) -> None:
    transactions.discard_changes()
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
                db.session,
                user,
                required(form.current_password.data),
                required(form.password.data),
                required(form.confirm.data),
                keep_session_token=session_token(),
            )
        except services.AccountFieldError as error:
            _show_field_error(form, error)
        else:
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
            # Every session of the account ends; this browser gets a new one.
            services.set_password(
                db.session, user, required(form.password.data), required(form.confirm.data)
            )
        except services.AccountFieldError as error:
            _show_field_error(form, error)
        else:
            _log_in(user)
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
            required(form.email.data),
            secret_key=current_app.config["SECRET_KEY"],
            base_url=current_app.config["BASE_URL"],
            now=utcnow(),
        )
        return render_template("accounts/forgot_password.html", form=None, sent_to=form.email.data)
    status = 422 if form.errors else 200
    return render_template("accounts/forgot_password.html", form=form, sent_to=None), status


# -- the team ----------------------------------------------------------------------------


def _team_page(
    form: MemberForm | None = None,
    invited: str | None = None,
    problem: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    workspace = current_workspace()
    return render_template(
        "accounts/team.html",
        workspace=workspace,
        members=services.team_of(db.session, workspace.id),
        # The access hook read the role for this request already.
        is_owner=g.role == "owner",
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
        user, created = services.add_member(
            db.session, workspace, required(form.email.data), form.role.data
        )
    except services.AccountFieldError as error:
        _show_field_error(form, error)
        return _team_page(form, status=422)
    services.send_team_invitation(
        db.session, workspace, user, new_user=created, **_invitation_details()
    )
    return _team_page(invited=user.email)


def _invitation_details() -> dict[str, Any]:
    return {
        "invited_by": current_user.email,
        "secret_key": current_app.config["SECRET_KEY"],
        "base_url": current_app.config["BASE_URL"],
        "now": utcnow(),
    }


@bp.post("/settings/team/<int:user_id>/invite")
@access.owner
def invite_again(user_id: int) -> Response | tuple[str, int]:
    """Email someone who has not logged in since joining again (the first link may have
    expired); a password link goes to their mailbox only, never onto this page."""
    workspace = current_workspace()
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        user = services.invite_again(db.session, workspace, user_id, **_invitation_details())
    except services.MemberNotFound:
        abort(404)
    except services.AccountError as error:
        flash(str(error))
        return redirect(url_for("accounts.team"), code=303)
    return _team_page(invited=user.email)


def _change_team(change: Callable[[], str]) -> Response | tuple[str, int]:
    """Carry out an owner's change to the team: its message, or the page with the reason."""
    try:
        message = change()
    except services.MemberNotFound:
        abort(404)
    except services.AccountError as error:
        transactions.discard_changes()
        return _team_page(problem=str(error), status=409)
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
        workspace_id = current_workspace().id
        user = services.remove_member(db.session, workspace_id, current_user, user_id)
        # Follow-ups build on accounts, so their side of a removal is asked for here.
        unassign_member(db.session, workspace_id, user.id)
        return f"{user.email} is no longer in the team."

    return _change_team(change)


# -- your account --------------------------------------------------------------------------


@bp.get("/account")
@access.member
def account() -> tuple[str, int]:
    """Your workspaces (leave one) and your sessions (log out everywhere)."""
    return _account_page()


def _account_page(problem: str | None = None, status: int = 200) -> tuple[str, int]:
    user = current_user._get_current_object()
    token = session_token()
    sessions = services.sessions_of(db.session, user, utcnow())
    return render_template(
        "accounts/account.html",
        workspace=current_workspace(),
        places=services.places_of(db.session, user),
        sessions=[(s, services.is_session_token(s, token)) for s in sessions],
        session_idle_hours=int(services.SESSION_IDLE[False].total_seconds() // 3600),
        remembered_idle_days=services.SESSION_IDLE[True].days,
        session_max_days=services.SESSION_MAX_AGE.days,
        form=EmptyForm(formdata=None),
        problem=problem,
    ), status


@bp.post("/account/workspaces/<int:workspace_id>/leave")
@access.member
def leave_workspace(workspace_id: int) -> Response | tuple[str, int]:
    """Leave a workspace (one you were added to, say); its only owner cannot."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    user = current_user._get_current_object()
    try:
        left = services.leave_workspace(db.session, workspace_id, user)
    except services.MemberNotFound:
        abort(404)
    except services.AccountError as error:
        transactions.discard_changes()
        return _account_page(problem=str(error), status=409)
    unassign_member(db.session, workspace_id, user.id)
    name = left.name
    if browser_session.get(WORKSPACE_CHOICE) == workspace_id:
        browser_session.pop(WORKSPACE_CHOICE)
    if not services.workspaces_of(db.session, user):
        # Nothing left to open: this login ends here.
        services.end_session(db.session, session_token() or "")
        logout_user()
        flash(f"You have left {name}, your last workspace, and are logged out.")
        return redirect(url_for("accounts.login"), code=303)
    flash(f"You have left {name}.")
    return redirect(url_for("accounts.account"), code=303)


@bp.post("/account/logout-everywhere")
@access.member
def logout_everywhere() -> Response:
    """End every session of yours, on every device, this one included."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    services.end_sessions_of(db.session, current_user._get_current_object())
    logout_user()
    browser_session.pop(WORKSPACE_CHOICE, None)
    flash("You are logged out everywhere, on this device too.")
    return redirect(url_for("accounts.login"), code=303)
