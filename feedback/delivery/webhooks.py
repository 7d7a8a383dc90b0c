"""Webhooks out: owners register URLs; events go through the outbox, signed."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import urllib.error
import urllib.request
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from feedback.accounts.models import Workspace
from feedback.db import workspace_scoped
from feedback.delivery.models import OutboxMessage, WebhookEndpoint

EVENTS = ("response.created", "response.negative", "testimonial.opted_in")
SIGNATURE_HEADER = "X-Feedback-Signature"


class WebhookError(ValueError):
    """A webhook that cannot be registered; the message says why."""


def register_webhook(
    session: Session, workspace_id: int, url: str, events: list[str], now: dt.datetime
) -> WebhookEndpoint:
    """A new endpoint with its own signing secret."""
    url = url.strip()
    if not url.startswith(("https://", "http://")) or len(url) > 500 or " " in url:
        raise WebhookError("Use a full http(s):// URL of at most 500 characters.")
    unknown = sorted(set(events) - set(EVENTS))
    if unknown or not events:
        raise WebhookError(f"Choose events among {', '.join(EVENTS)}.")
    endpoint = WebhookEndpoint(
        workspace_id=workspace_id,
        url=url,
        events=",".join(e for e in EVENTS if e in events),
        secret=secrets.token_hex(32),
        active=True,
        created_at=now,
    )
    session.add(endpoint)
    session.flush()
    _refresh_has_webhooks(session, workspace_id)
    return endpoint


def webhooks_of(session: Session, workspace_id: int) -> list[WebhookEndpoint]:
    stmt = select(WebhookEndpoint).order_by(WebhookEndpoint.id)
    return list(session.scalars(workspace_scoped(stmt, workspace_id)))


def remove_webhook(session: Session, workspace_id: int, endpoint_id: int) -> bool:
    endpoint = session.scalar(
        workspace_scoped(
            select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id), workspace_id
        )
    )
    if endpoint is None:
        return False
    session.delete(endpoint)
    session.flush()
    _refresh_has_webhooks(session, workspace_id)
    return True


def _refresh_has_webhooks(session: Session, workspace_id: int) -> None:
    active = session.scalar(
        select(func.count(WebhookEndpoint.id)).where(
            WebhookEndpoint.workspace_id == workspace_id, WebhookEndpoint.active.is_(True)
        )
    )
    session.execute(
        update(Workspace).where(Workspace.id == workspace_id).values(has_webhooks=bool(active))
    )


def enqueue_events(
    session: Session,
    workspace_id: int,
    events: list[str],
    data: dict[str, Any],
    now: dt.datetime,
) -> int:
    """One outbox message per (active endpoint, event it wants); returns how many.

    The endpoints are read once for all the events one change raises.
    """
    endpoints = session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.url, WebhookEndpoint.events).where(
            WebhookEndpoint.workspace_id == workspace_id, WebhookEndpoint.active.is_(True)
        )
    ).all()
    count = 0
    for event in events:
        body = json.dumps(
            {"event": event, "created_at": now.isoformat(), "data": data}, separators=(",", ":")
        )
        for endpoint_id, url, wanted in endpoints:
            if event not in wanted.split(","):
                continue
            session.add(
                OutboxMessage(
                    workspace_id=workspace_id,
                    kind="webhook",
                    payload={"endpoint_id": endpoint_id, "url": url, "event": event, "body": body},
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
            count += 1
    return count


def signature(secret: str, timestamp: int, body: str) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>", as in the signature header `t=...,v1=...`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def post_webhook(session: Session, message: OutboxMessage, now: dt.datetime) -> str | None:
    """POST one webhook; None on a 2xx answer, else the error to retry with."""
    endpoint = session.get(WebhookEndpoint, message.payload["endpoint_id"])
    if endpoint is None or not endpoint.active:
        return None  # removed since: nothing to deliver
    body = message.payload["body"]
    request = urllib.request.Request(
        message.payload["url"],
        data=body.encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "feedback-webhooks/1",
            SIGNATURE_HEADER: signature(endpoint.secret, int(now.timestamp()), body),
            "X-Feedback-Event": message.payload["event"],
            "X-Feedback-Delivery": str(message.id),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        return f"unreachable: {error}"
    return None if 200 <= status < 300 else f"HTTP {status}"
