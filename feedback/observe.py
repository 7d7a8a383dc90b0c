"""Request ids, one JSON log line per request, and the request metrics.

Logs are for machines (a log shipper parses each line as JSON) and must never
carry personal data or secrets: a request line names the route *rule*
(`/s/<token>`), never the path, its query string, a form field or a header
other than the request id.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
import time
import traceback
import uuid
from typing import Any

import sqlalchemy as sa
from flask import Flask, g, request
from flask.logging import default_handler
from werkzeug.wrappers import Response

from feedback import metrics

REQUEST_ID_HEADER = "X-Request-ID"
# What a proxy's id may look like to be kept (nginx's $request_id is 32 hex
# digits; a UUID has dashes); anything else is replaced, so a log line never
# carries what a client chose to put there.
VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
REQUEST_LOGGER = "feedback.requests"
# Attributes every LogRecord has; whatever else a call passes in `extra` goes into the JSON.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            # Which gunicorn worker (or delivery worker) wrote it.
            "pid": record.process,
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                line[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            # The type and where it was raised, never its message: a database
            # error's message quotes the statement's parameters (emails, comments).
            error_type, _error, trace = record.exc_info
            line["exception"] = f"{error_type.__module__}.{error_type.__qualname__}"
            line["traceback"] = "".join(traceback.format_tb(trace))
        return json.dumps(line, default=str, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging() -> None:
    """Send the `feedback` loggers' records to stderr as JSON lines (once per process).

    Flask's own default handler (plain text, same logger) is taken off, so an
    error is logged once, as JSON. Records still propagate, so a test's
    `caplog` sees them.
    """
    logger = logging.getLogger("feedback")
    logger.removeHandler(default_handler)
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)


def request_id_from(header: str | None) -> str:
    """The client's (or proxy's) id when it is short and plain, else a new one."""
    if header and VALID_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    """This request's id (for error pages and log lines); None outside a request."""
    return g.get("request_id")


def _start() -> None:
    g.request_started = time.perf_counter()
    g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))


def _finish(response: Response) -> Response:
    started = g.get("request_started")
    seconds = time.perf_counter() - started if started is not None else 0.0
    request_id = current_request_id() or request_id_from(None)
    response.headers[REQUEST_ID_HEADER] = request_id
    route = request.url_rule.rule if request.url_rule is not None else metrics.UNMATCHED_ROUTE
    if request.endpoint != "static":
        metrics.HTTP_REQUESTS.labels(route, request.method, str(response.status_code)).inc()
        metrics.HTTP_REQUEST_SECONDS.labels(route, request.method).observe(seconds)
    logging.getLogger(REQUEST_LOGGER).info(
        "request",
        extra={
            "request_id": request_id,
            "method": request.method,
            "route": route,
            "status": response.status_code,
            "duration_ms": round(seconds * 1000, 1),
            "workspace_id": _workspace_id(),
        },
    )
    return response


def _workspace_id() -> int | None:
    """The request's workspace, from the object's identity, never the database.

    By now the request's transaction has committed (`feedback.transactions`),
    which expires the object: reading `.id` would load it again, a query per
    request that fails when the database went away after the commit (the answer
    was stored, yet the client would get an error), and a 500 after a 503 that
    closed the session.
    """
    workspace = g.get("workspace")
    if workspace is None:
        return None
    identity = sa.inspect(workspace).identity
    return int(identity[0]) if identity else None


def register(app: Flask) -> None:
    """Call first in `create_app`: the clock starts before any other hook, and the
    line is written after every other `after_request` hook (they run in reverse)."""
    configure_logging()
    app.before_request(_start)
    app.after_request(_finish)
    app.jinja_env.globals["request_id"] = current_request_id
