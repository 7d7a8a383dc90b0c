"""Who may open which page: every view declares its level, one hook enforces it.

A view says who it is for where its route is declared (as warehouse's
`view_config(permission=...)` does)::

    @bp.get("/settings")
    @owner
    def settings(): ...

The markers only record the level on the view function. `enforce` (a
`before_request` hook) reads the level of the matched endpoint and lets the
request through or not; `check_every_route_declares_access` makes `create_app`
refuse to start while any route lacks a level, so a route nobody thought about
is never served (fail closed).

The role matrix (the README's table):

- members read everything, work follow-ups and moderate testimonials, and
  see who is in the team;
- only owners open the settings (the business, the journey, QR codes, API keys,
  webhooks, delivery and its retries, testimonial settings), change the team,
  import touchpoints and download the CSV exports (personal data).

Anonymous visitors of member and owner pages are sent to the login page;
members get 403 (the friendly error page) on owner pages.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, abort, current_app, g, request
from flask import session as browser_session
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_login.config import EXEMPT_METHODS
from jinja2 import pass_context

from feedback.accounts.auth import WORKSPACE_CHOICE
from feedback.accounts.services import role_in, workspaces_of
from feedback.extensions import db, login_manager

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger(__name__)


class Access(enum.StrEnum):
    # Anyone: the login page, the testimonial wall and feed, open stage links.
    PUBLIC = "public"
    # Anyone holding a customer's token in the URL (survey, consent,
    # unsubscribe): the view itself finds the token or answers 404.
    CUSTOMER = "customer"
    # A Bearer API key; the API blueprint's `authenticate` hook checks it.
    API_KEY = "api_key"
    # Logged in and in a workspace, whatever the role.
    MEMBER = "member"
    # Logged in and an owner of the workspace being worked in.
    OWNER = "owner"


ACCESS_ATTRIBUTE = "access_level"
ROLE_OWNER = "owner"
# Flask's own endpoint for files under static/: public by nature, and not a view we write.
UNDECLARED_ENDPOINTS = frozenset({"static"})
# The only blueprint whose `before_request` checks API keys.
API_BLUEPRINT = "api"


def _declare(level: Access) -> Callable[[F], F]:
    def mark(view: F) -> F:
        setattr(view, ACCESS_ATTRIBUTE, level)
        return view

    mark.__name__ = level.value
    mark.__doc__ = f"Declare the view's access level: {level.value}."
    return mark


public = _declare(Access.PUBLIC)
customer = _declare(Access.CUSTOMER)
api_key = _declare(Access.API_KEY)
member = _declare(Access.MEMBER)
owner = _declare(Access.OWNER)


def level_of(view: Callable[..., Any] | None) -> Access | None:
    """The level a view function declared; None when it declared none."""
    level = getattr(view, ACCESS_ATTRIBUTE, None)
    return level if isinstance(level, Access) else None


def declared_level(endpoint: str | None) -> Access | None:
    """The level of an endpoint of the running app; None for an unknown or undeclared one."""
    if endpoint is None:
        return None
    return level_of(current_app.view_functions.get(endpoint))


class UndeclaredAccess(RuntimeError):
    """Some routes say nothing (or something impossible) about who may open them."""


def check_every_route_declares_access(app: Flask) -> None:
    """Refuse to start unless every route's view declares an access level that can hold."""
    problems = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in UNDECLARED_ENDPOINTS:
            continue
        level = level_of(app.view_functions.get(rule.endpoint))
        in_api = rule.endpoint.startswith(API_BLUEPRINT + ".")
        if level is None:
            problems.append(f"{rule.rule} ({rule.endpoint}) declares no access level")
        elif (level is Access.API_KEY) != in_api and level is not Access.PUBLIC:
            # Only the API blueprint checks keys, so a key route elsewhere would be open;
            # and the API is exempt from CSRF, so a cookie-login route in it could be forged.
            problems.append(f"{rule.rule} ({rule.endpoint}) is {level.value} in the wrong place")
    if problems:
        raise UndeclaredAccess(
            "Every route must declare who may open it (feedback/access.py): " + "; ".join(problems)
        )


def load_workspace() -> None:
    """Put the logged-in user's workspaces, the chosen one and their role in it on `g`.

    Someone in no workspace (removed from their last team) gets `g.workspace = None`.
    """
    workspaces = workspaces_of(db.session, current_user)
    chosen = browser_session.get(WORKSPACE_CHOICE)
    g.workspace = next(
        (w for w in workspaces if w.id == chosen), workspaces[0] if workspaces else None
    )
    # For the header's switcher, shown to people in more than one workspace.
    g.workspaces = workspaces
    g.role = role_in(db.session, g.workspace.id, current_user.id) if g.workspace else None


def enforce() -> ResponseReturnValue | None:
    """The one place access is decided, from the matched view's declared level."""
    if request.endpoint is None or request.endpoint in UNDECLARED_ENDPOINTS:
        return None  # nothing matched: routing answers 404 or 405 by itself
    if request.method in EXEMPT_METHODS:
        return None  # OPTIONS lists the allowed methods and runs no view
    level = declared_level(request.endpoint)
    if level is None:
        # `create_app` refuses undeclared routes; one added afterwards is refused here.
        log.error("refused %s: the route declares no access level", request.endpoint)
        abort(403)
    if level not in (Access.MEMBER, Access.OWNER):
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    load_workspace()
    if g.workspace is None:
        abort(403)
    if level is Access.OWNER and g.role != ROLE_OWNER:
        abort(403)
    return None


def may_open(endpoint: str) -> bool:
    """Whether the current user may open the endpoint; for hiding links they cannot follow."""
    level = declared_level(endpoint)
    if level is None:
        return False
    if level not in (Access.MEMBER, Access.OWNER):
        return True
    if not current_user.is_authenticated:
        return False
    if "role" not in g:
        load_workspace()
    return g.role == ROLE_OWNER if level is Access.OWNER else g.workspace is not None


@pass_context
def _openable(_context: Any, endpoint: str) -> bool:
    # Taking the context stops Jinja from working the answer out once, when it
    # compiles a template, for whoever happened to be logged in then.
    return may_open(endpoint)


def register(app: Flask) -> None:
    """Enforce declared levels on every request; templates ask `endpoint is openable`."""
    app.before_request(enforce)
    app.jinja_env.tests["openable"] = _openable
