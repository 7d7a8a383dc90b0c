"""Friendly error pages."""

from __future__ import annotations

from flask import Flask, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from feedback.api.errors import ApiError, error_response, from_http_exception

MESSAGES = {
    400: ("Something was wrong with that request", "Please go back and try again."),
    403: ("Not allowed", "Your account cannot open this page."),
    404: ("Page not found", "Check the address, or go back to where you came from."),
    405: ("Not allowed", "That page cannot be used that way."),
    413: ("That was too much", "What you sent is larger than we accept. Please shorten it."),
    429: ("Too many tries", "Please wait a minute before trying again."),
    500: ("Something went wrong on our side", "Please try again in a moment."),
}


def _page(status: int, detail: str | None = None) -> tuple[str, int]:
    title, message = MESSAGES.get(status, MESSAGES[500])
    return render_template(
        "errors/error.html", status=status, title=title, message=detail or message
    ), status


def register(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> tuple[str, int]:
        if request.endpoint == "surveys.survey" and request.view_args:
            from feedback.surveys.views import survey_after_csrf_failure

            return survey_after_csrf_failure(request.view_args["token"], error)
        if request.endpoint == "surveys.open_survey" and request.view_args:
            from feedback.surveys.views import open_survey_after_csrf_failure

            return open_survey_after_csrf_failure(**request.view_args)
        if request.endpoint in ("consent.withdraw", "consent.reconfirm") and request.view_args:
            from feedback.testimonials.consent_views import consent_after_csrf_failure

            return consent_after_csrf_failure(request.view_args["token"])
        return _page(
            400,
            "The form had expired or was not sent from this site. "
            "Please reload the page and try again.",
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> ResponseReturnValue:
        if _is_api(request.path):
            return from_http_exception(error)
        return _page(error.code or 500)

    @app.errorhandler(500)
    def server_error(_error: Exception) -> ResponseReturnValue:
        if _is_api(request.path):
            return error_response(ApiError(500))
        return _page(500)


def _is_api(path: str) -> bool:
    # API clients read JSON in the API's envelope, even for unknown addresses.
    return path == "/api" or path.startswith("/api/")
