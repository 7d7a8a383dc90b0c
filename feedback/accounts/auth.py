"""Login wiring and the decorator every owner page uses."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from flask import abort, g
from flask import session as browser_session
from flask_login import current_user, login_required

from feedback.accounts.models import User, Workspace
from feedback.accounts.services import workspaces_of
from feedback.extensions import db

F = TypeVar("F", bound=Callable[..., Any])


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


def workspace_required(view: F) -> F:
    """Log-in required; puts the user's workspace on `g.workspace` for the view."""

    @functools.wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        workspaces = workspaces_of(db.session, current_user)
        if not workspaces:
            abort(403)
        chosen = browser_session.get(WORKSPACE_CHOICE)
        g.workspace = next((w for w in workspaces if w.id == chosen), workspaces[0])
        # For the header's switcher, shown to people in more than one workspace.
        g.workspaces = workspaces
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def current_workspace() -> Workspace:
    workspace: Workspace = g.workspace
    return workspace
