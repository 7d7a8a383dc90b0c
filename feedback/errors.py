"""Friendly error pages, and a 503 while the database can't be reached."""

from __future__ import annotations

import contextlib

from flask import Flask, current_app, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException, InternalServerError

from feedback.api.errors import ApiError, error_response, from_http_exception
from feedback.extensions import db

MESSAGES = {
    400: ("Something was wrong with that request", "Please go back and try again."),
    403: ("Not allowed", "Your account cannot open this page."),
    404: ("Page not found", "Check the address, or go back to where you came from."),
    405: ("Not allowed", "That page cannot be used that way."),
    413: ("That was too much", "What you sent is larger than we accept. Please shorten it."),
    429: ("Too many tries", "Please wait a minute before trying again."),
    500: ("Something went wrong on our side", "Please try again in a moment."),
    503: (
        "Temporarily unavailable",
        "We can't reach our records right now. Nothing is wrong on your side: "
        "please try again in a minute.",
    ),
}
# What a 503 asks clients (and the API's users) to wait, in seconds: the page says
# "a minute".
RETRY_AFTER_SECONDS = 60
# SQLite's result codes (extended ones start with these) that mean "busy, try
# again": another writer held the lock past the busy timeout. A full disk or a
# file that can't be opened won't pass in a minute: those stay 500s, logged.
SQLITE_TRANSIENT = ("SQLITE_BUSY", "SQLITE_LOCKED")


def _page(status: int, detail: str | None = None) -> tuple[str, int]:
    title, message = MESSAGES.get(status, MESSAGES[500])
    return render_template(
        "errors/error.html", status=status, title=title, message=detail or message
    ), status


def csrf_failure_page() -> tuple[str, int]:
    """A form that expired or was not sent from this site: reload and try again."""
    return _page(
        400,
        "The form had expired or was not sent from this site. "
        "Please reload the page and try again.",
    )


def register(app: Flask) -> None:
    # The general answer; blueprints whose forms can do better (a survey that
    # keeps what the customer typed) register their own CSRFError handler.
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> tuple[str, int]:
        return csrf_failure_page()

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> ResponseReturnValue:
        if _is_api(request.path):
            return from_http_exception(error)
        return _page(error.code or 500)

    @app.errorhandler(sa_exc.DBAPIError)
    @app.errorhandler(sa_exc.TimeoutError)
    def database_error(error: sa_exc.SQLAlchemyError) -> ResponseReturnValue:
        if not database_unavailable(error):
            # A bug (a bad query, a missing table): Flask logs it and answers 500.
            raise error
        return _unavailable(error)

    @app.errorhandler(500)
    def server_error(error: InternalServerError) -> ResponseReturnValue:
        # An outage met outside the view (an after_request hook, the session
        # save) reaches here rather than the handler above.
        original = getattr(error, "original_exception", None)
        if isinstance(original, sa_exc.SQLAlchemyError) and database_unavailable(original):
            return _unavailable(original)
        if _is_api(request.path):
            return error_response(ApiError(500))
        return _page(500)


def database_unavailable(error: BaseException) -> bool:
    """Whether `error` means the database can't be used right now (answer 503), not a bug.

    - The pool had no connection to give within its timeout: overloaded.
    - SQLAlchemy saw the connection drop (`connection_invalidated`): a restart,
      a failover, a network cut.
    - PostgreSQL (psycopg): every OperationalError. PostgreSQL reports a bad
      query as ProgrammingError or DataError; OperationalError is its SQLSTATE
      classes 08 (connection), 53 (out of resources), 57 (shutting down,
      starting up, statement cancelled) and 55P03 (lock timeout): all of them
      pass, so "try again" is true.
    - SQLite reports bad SQL ("no such table") as OperationalError too, so
      there only the result codes that pass are an outage: "database is locked"
      (another writer past the 15 s busy timeout) is answered 503 with
      Retry-After, since retrying is exactly what helps.
    """
    if isinstance(error, sa_exc.TimeoutError):
        return True
    if not isinstance(error, sa_exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if not isinstance(error, sa_exc.OperationalError):
        return False
    sqlite_code = getattr(error.orig, "sqlite_errorname", None)
    if sqlite_code is not None:
        return str(sqlite_code).startswith(SQLITE_TRANSIENT)
    return True


def _unavailable(error: sa_exc.SQLAlchemyError) -> ResponseReturnValue:
    _log_outage(error)
    # The request's session holds a dead connection or a failed transaction:
    # drop it, so nothing later in this request (or the next one) reuses it.
    with contextlib.suppress(sa_exc.SQLAlchemyError):  # the pool discards it anyway
        db.session.remove()
    if _is_api(request.path):
        response = error_response(
            ApiError(
                503,
                "The service is temporarily unavailable; retry after the time in Retry-After.",
                code="unavailable",
            )
        )
    else:
        title, message = MESSAGES[503]
        # Straight from the Jinja environment: render_template would run the
        # context processors, and Flask-Login's loads the user from the database.
        body = current_app.jinja_env.get_template("errors/error.html").render(
            status=503, title=title, message=message
        )
        response = current_app.make_response((body, 503))
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _log_outage(error: sa_exc.SQLAlchemyError) -> None:
    """One line naming the driver's error, never the statement or its parameters
    (`str(error)` would print both, and they can hold emails or comments)."""
    original = getattr(error, "orig", None)
    if original is None:
        detail = type(error).__name__
    else:
        code = getattr(original, "sqlstate", None) or getattr(original, "sqlite_errorname", None)
        message = str(original).strip().splitlines()[0][:200] if str(original).strip() else ""
        detail = f"{type(original).__module__}.{type(original).__name__}"
        if code:
            detail += f" [{code}]"
        if message:
            detail += f": {message}"
    current_app.logger.warning(
        "database unavailable, answered 503 to %s %s: %s",
        request.method,
        request.url_rule.rule if request.url_rule else "(no route)",
        detail,
    )


def _is_api(path: str) -> bool:
    # API clients read JSON in the API's envelope, even for unknown addresses.
    return path == "/api" or path.startswith("/api/")
