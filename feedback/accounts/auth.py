"""Login wiring and the workspace a request works in (see `feedback.access`)."""

from __future__ import annotations

import secrets

from flask import g

from feedback.accounts.models import User, Workspace
from feedback.extensions import db


def load_user(session_id: str) -> User | None:
    """The user of a session made by `User.get_id`, unless their password changed since."""
    user_id, _, fingerprint = session_id.partition(".")
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not secrets.compare_digest(fingerprint, user.password_fingerprint):
        return None
    return user


# Where a person in several workspaces keeps the one they chose to work in.
WORKSPACE_CHOICE = "workspace_id"


def current_workspace() -> Workspace:
    """The workspace of this request: put on `g` by `feedback.access` or the API's key check."""
    workspace: Workspace = g.workspace
    return workspace
