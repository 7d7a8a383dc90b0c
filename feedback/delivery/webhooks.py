"""Webhooks out: owners register URLs; events go through the outbox, signed."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from feedback.accounts.models import Workspace
from feedback.db import workspace_scoped
from feedback.delivery import netguard
from feedback.delivery.models import OutboxMessage, WebhookEndpoint

EVENTS = ("response.created", "response.negative", "testimonial.opted_in")
SIGNATURE_HEADER = "X-Feedback-Signature"
# Seconds a webhook call may take to connect, and in all: a receiver that
# hangs or trickles holds one webhook thread this long, never an email.
CONNECT_TIMEOUT = 3.0
TOTAL_TIMEOUT = 10.0


class WebhookError(ValueError):
    """A webhook that cannot be registered; the message says why."""


def register_webhook(
    session: Session,
    workspace_id: int,
    url: str,
    events: list[str],
    now: dt.datetime,
    *,
    allow_private: bool = False,
    resolver: netguard.Resolver = netguard.system_resolver,
) -> WebhookEndpoint:
    """A new endpoint with its own signing secret.

    Refused (WebhookError) when the URL points inside the network: see
    `netguard`; `allow_private` is the installation's LAN opt-in.
    """
    url = url.strip()
    if not url.startswith(("https://", "http://")) or len(url) > 500 or " " in url:
        raise WebhookError("Use a full http(s):// URL of at most 500 characters.")
    try:
        netguard.check_for_registration(url, allow_private=allow_private, resolver=resolver)
    except netguard.InvalidDestination as error:
        raise WebhookError(f"Refused: {error}.") from error
    except netguard.DestinationRefused as error:
        reason = str(error)
        raise WebhookError(f"{reason[:1].upper()}{reason[1:]}.") from error
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


@dataclass(frozen=True)
class WebhookCall:
    """One webhook POST, prepared from its outbox message (the only database read)."""

    message_id: int
    url: str
    body: bytes
    headers: dict[str, str]


class WebhookNotDeliverable(ValueError):
    """The outbox message cannot become a request: its payload is not a webhook call's."""


def prepare_webhook(
    session: Session,
    workspace_id: int,
    message_id: int,
    payload: dict[str, Any],
    now: dt.datetime,
) -> WebhookCall | None:
    """The request an outbox webhook message stands for; None if its endpoint was removed."""
    try:
        endpoint_id = int(payload["endpoint_id"])
        body = str(payload["body"])
        event = str(payload["event"])
    except (KeyError, TypeError, ValueError) as error:
        raise WebhookNotDeliverable("failed (not a webhook message)") from error
    endpoint = session.scalar(
        workspace_scoped(
            select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id), workspace_id
        )
    )
    if endpoint is None or not endpoint.active:
        return None  # removed since: nothing to deliver
    return WebhookCall(
        message_id=message_id,
        # The endpoint's URL as it is now: an owner's fix applies to waiting calls.
        url=endpoint.url,
        body=body.encode(),
        headers={
            "Content-Type": "application/json",
            "User-Agent": "feedback-webhooks/1",
            SIGNATURE_HEADER: signature(endpoint.secret, int(now.timestamp()), body),
            "X-Feedback-Event": event.replace("\r", " ").replace("\n", " "),
            "X-Feedback-Delivery": str(message_id),
        },
    )


@dataclass(frozen=True)
class WebhookOutcome:
    """How one call went: `error` None when delivered; `permanent` when retrying can't help."""

    error: str | None
    permanent: bool = False


def send_webhook(
    call: WebhookCall,
    *,
    allow_private: bool = False,
    resolver: netguard.Resolver = netguard.system_resolver,
    connect_timeout: float = CONNECT_TIMEOUT,
    total_timeout: float = TOTAL_TIMEOUT,
) -> WebhookOutcome:
    """POST one prepared call. Errors read "refused: ..." or "failed (...)": never what
    the receiver said, which could be a private service's answer."""
    try:
        status = netguard.post(
            call.url,
            call.body,
            call.headers,
            allow_private=allow_private,
            resolver=resolver,
            connect_timeout=connect_timeout,
            total_timeout=total_timeout,
        )
    except netguard.InvalidDestination as error:
        return WebhookOutcome(f"refused: {error}", permanent=True)
    except netguard.DestinationRefused as error:
        # Not permanent: DNS may change, or the owner may fix the URL.
        return WebhookOutcome(str(error))
    except netguard.DeliveryFailed as error:
        return WebhookOutcome(f"failed ({error.reason})")
    if 200 <= status < 300:
        return WebhookOutcome(None)
    if 300 <= status < 400:
        return WebhookOutcome(f"failed (HTTP {status}: redirects are not followed)")
    return WebhookOutcome(f"failed (HTTP {status})")
