"""Login wiring and the workspace a request works in (see `feedback.access`)."""

from __future__ import annotations

from flask import current_app, g, request
from flask import session as browser_session
from flask_login import current_user

from feedback import transactions
from feedback.accounts.models import User, Workspace
from feedback.accounts.services import needs_seen_update, note_session_seen, session_for_token
from feedback.db import utcnow
from feedback.extensions import db


def load_user(session_id: str) -> User | None:
    """The user of a live session whose token Flask-Login kept (`User.get_id`), or None
    once it was logged out, ended everywhere, replaced by a new password or left idle."""
    now = utcnow()
    user_session = session_for_token(db.session, session_id, now)
    if user_session is None:
        return None
    if needs_seen_update(user_session, now):
        # Written by `note_session_in_use`, before the view: never inside its transaction.
        g.session_seen = user_session.id
    user = user_session.user
    user.session_token = session_id
    return user


def note_session_in_use() -> None:
    """Before every request of a logged-in browser: load its user while the request's
    transaction is still empty, and restart the session's idle time (at most every few
    minutes, so a busy owner is not a write per page)."""
    if request.endpoint == "static":
        return
    remember_cookie = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")
    if "_user_id" not in browser_session and remember_cookie not in request.cookies:
        return
    current_user._get_current_object()  # Flask-Login calls load_user
    seen = g.pop("session_seen", None)
    if seen is not None:
        note_session_seen(db.session, seen, utcnow())
        transactions.commit_now("the stamp never joins, nor waits on, the view's transaction")


def session_token() -> str | None:
    """The token of this browser's session, if someone is logged in."""
    if not current_user.is_authenticated:
        return None
    token: str = current_user.get_id()
    return token


# Where a person in several workspaces keeps the one they chose to work in.
WORKSPACE_CHOICE = "workspace_id"


def current_workspace() -> Workspace:
    """The workspace of this request: put on `g` by `feedback.access` or the API's key check."""
    workspace: Workspace = g.workspace
    return workspace
