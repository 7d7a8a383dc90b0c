"""The API's one error shape: {"error": {"code", "message", "fields"}}."""

from __future__ import annotations

from flask import Response, jsonify
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

# Codes for the statuses the API answers with; a client can switch on them.
CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    500: "server_error",
}
MESSAGES = {
    400: "The request could not be read.",
    401: "A valid API key is required: send 'Authorization: Bearer <key>'.",
    404: "There is nothing at this address.",
    405: "This address does not take that method.",
    413: "The request body is too large.",
    429: "Too many requests; slow down and retry after the time in Retry-After.",
    500: "Something went wrong on our side; the request can be retried.",
}


class ApiError(Exception):
    """An answer other than success, raised anywhere below a view."""

    def __init__(
        self,
        status: int,
        message: str | None = None,
        *,
        code: str | None = None,
        fields: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or CODES.get(status, "error")
        self.message = message or MESSAGES.get(status, "The request failed.")
        self.fields = fields or {}

    def body(self) -> dict[str, dict[str, object]]:
        return {"error": {"code": self.code, "message": self.message, "fields": self.fields}}


def error_response(error: ApiError) -> Response:
    response = jsonify(error.body())
    response.status_code = error.status
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def from_http_exception(error: HTTPException) -> Response:
    """Werkzeug's errors (404, 405, 413, 429 from the limiter...) in the envelope."""
    status = error.code or 500
    response = error_response(ApiError(status))
    if status == 429 or status == 405:
        # Keep Retry-After and Allow.
        original = error.get_response()
        for header in ("Retry-After", "Allow"):
            if header in original.headers:
                response.headers[header] = original.headers[header]
    return response


def field_errors(error: ValidationError, prefix: str = "") -> dict[str, str]:
    """Pydantic's errors as {"contact.email": "message"}; the first message per field."""
    fields: dict[str, str] = {}
    for item in error.errors(include_url=False):
        path = ".".join(str(part) for part in item["loc"]) or "body"
        message = item["msg"].removeprefix("Value error, ")
        fields.setdefault(prefix + path, message)
    return fields


def invalid(error: ValidationError, prefix: str = "") -> ApiError:
    fields = field_errors(error, prefix)
    return ApiError(422, "Some fields are missing or wrong: " + ", ".join(fields), fields=fields)
