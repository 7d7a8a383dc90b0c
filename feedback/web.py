"""Template filters and response headers shared by every page."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import Flask
from werkzeug.wrappers import Response

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)


def localtime(moment: dt.datetime | None, timezone: str, fmt: str = "%d %b %Y, %H:%M") -> str:
    """A UTC timestamp shown in the workspace's time zone."""
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(timezone)).strftime(fmt)


def signed(value: float | None, digits: int = 2) -> str:
    """+0.31 / -0.12 / 0.00; an em dash when there is no value."""
    if value is None:
        return "—"
    text = f"{value:+.{digits}f}"
    return text.replace("+0.00", "0.00").replace("-0.00", "0.00")


def register(app: Flask) -> None:
    app.jinja_env.filters["localtime"] = localtime
    app.jinja_env.filters["signed"] = signed

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # A page whose own policy lets other sites frame it (the testimonial
        # embed) must not be refused by the older header either.
        if "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]:
            response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response
