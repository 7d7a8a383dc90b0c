"""Test clients: one app context per request, and logging in through the form."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.pages import csrf_token_from


class RequestIsolatingClient(FlaskClient):
    """Each request gets its own app context, as under a real server.

    Without this, requests would reuse the test's app context and so share
    `g` (where Flask-WTF caches the CSRF token) and the database session.
    """

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        # Buffered: a streamed body (CSV exports) is read inside this context.
        kwargs.setdefault("buffered", True)
        with self.application.app_context():
            return super().open(*args, **kwargs)


class AuthActions:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def login(self, email: str, password: str) -> None:
        response = self.client.get("/login")
        assert response.status_code == 200
        response = self.client.post(
            "/login",
            data={"email": email, "password": password, "csrf_token": csrf_token_from(response)},
        )
        assert response.status_code == 302, response.text

    def logout(self) -> None:
        page = self.client.get("/dashboard")
        self.client.post("/logout", data={"csrf_token": csrf_token_from(page)})
