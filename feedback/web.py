"""Template filters and response headers shared by every page."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import Flask, current_app, request
from werkzeug.wrappers import Response

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
# Public pages that show only what the business published: a browser or a CDN
# may keep them for five minutes (so a withdrawn testimonial is gone from
# caches within five minutes). Everything else may carry personal data, a
# personal link or a CSRF token, and is never stored.
PUBLIC_CACHEABLE_ENDPOINTS = frozenset(
    {"public_testimonials.wall_page", "public_testimonials.embed", "public_testimonials.feed"}
)
PUBLIC_CACHE_CONTROL = "public, max-age=300"
# Two years, the figure hstspreload.org asks for.
STRICT_TRANSPORT_SECURITY = "max-age=63072000; includeSubDomains"


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
        if "Cache-Control" not in response.headers and request.endpoint != "static":
            response.headers["Cache-Control"] = cache_control_for(request.endpoint, response)
        if current_app.config["BASE_URL"].startswith("https://"):
            response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
        return response


def cache_control_for(endpoint: str | None, response: Response) -> str:
    """`no-store` unless the page is public, succeeded and is the same for everyone.

    A page that set a cookie or read the session (Flask then adds `Vary: Cookie`)
    differs per visitor, whatever its endpoint, so it is never shared.
    """
    if (
        endpoint in PUBLIC_CACHEABLE_ENDPOINTS
        and response.status_code == 200
        and "Set-Cookie" not in response.headers
        and "cookie" not in response.headers.get("Vary", "").lower()
    ):
        return PUBLIC_CACHE_CONTROL
    return "no-store"
