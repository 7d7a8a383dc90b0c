"""Calling the API as a workspace's key holder, and what its answers look like."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from feedback.accounts.models import Workspace
from feedback.accounts.services import create_api_key
from tests.factories import NOW


@dataclass
class ApiClient:
    """The test client with a workspace's API key on every call."""

    client: FlaskClient
    workspace: Workspace
    key: str

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", **(extra or {})}

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.client.get(path, headers=self.headers(kwargs.pop("headers", None)), **kwargs)

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        return self.client.post(path, headers=self.headers(kwargs.pop("headers", None)), **kwargs)


def api_client_for(client: FlaskClient, session: Session, workspace: Workspace) -> ApiClient:
    issued = create_api_key(session, workspace, "tests", NOW)
    session.commit()
    return ApiClient(client, workspace, issued.secret)


def event(**overrides: Any) -> dict[str, Any]:
    """A valid touchpoint event; nested contact fields via contact={...}."""
    body: dict[str, Any] = {
        "contact": {"email": "ann@example.com", "name": "Ann"},
        "stage": "purchase",
        "touchpoint": "checkout",
        "event_id": "order-1",
        "occurred_at": "2026-06-15T09:30:00Z",
        "send": True,
    }
    body.update(overrides)
    return body


def assert_error(response: TestResponse, status: int, *fields: str) -> dict[str, Any]:
    """The API's envelope with this status, naming exactly these fields."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.json["error"]
    assert set(error) == {"code", "message", "fields"}
    assert error["code"] and error["message"]
    assert sorted(error["fields"]) == sorted(fields), error
    return error
