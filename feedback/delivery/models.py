"""The outbox: messages written in the same transaction as what caused them, sent later."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from feedback.db import WorkspaceOwned, created_at, intpk
from feedback.extensions import Model

OUTBOX_KINDS = ("email", "webhook")
OUTBOX_STATUSES = ("pending", "sending", "sent", "failed")


class OutboxMessage(WorkspaceOwned, Model):
    """One email (or, later, webhook call) waiting to go out, with its retry state.

    A worker claims due messages for a lease; a worker that dies mid-send
    leaves the message `sending` until the lease runs out, and then it is
    claimed again: delivery is at least once, never lost.
    """

    __tablename__ = "outbox_message"
    __table_args__ = (
        UniqueConstraint("workspace_id", "dedupe_key"),
        CheckConstraint(f"kind IN {OUTBOX_KINDS!r}", name="kind_known"),
        CheckConstraint(f"status IN {OUTBOX_STATUSES!r}", name="status_known"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        # The worker's queues span workspaces, so this index is not led by
        # workspace_id; everything else on the table is. Emails and webhook
        # calls are claimed by lanes of their own, so it is led by kind: a
        # backlog of one kind is never scanned to find the other.
        Index("ix_outbox_message_kind_due", "kind", "status", "next_attempt_at"),
        Index("ix_outbox_message_workspace_status", "workspace_id", "status"),
    )

    id: Mapped[intpk]
    kind: Mapped[str] = mapped_column(String(10))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime]
    claimed_until: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[created_at]
    sent_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} {self.kind} {self.status}>"


class WebhookEndpoint(WorkspaceOwned, Model):
    """A URL an owner registered to hear about events, with its signing secret."""

    __tablename__ = "webhook_endpoint"
    __table_args__ = (Index("ix_webhook_endpoint_workspace", "workspace_id", "active"),)

    id: Mapped[intpk]
    url: Mapped[str] = mapped_column(String(500))
    events: Mapped[str] = mapped_column(String(200))  # comma-separated event names
    # Kept in clear: the service signs with it, the receiver verifies with it.
    secret: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[created_at]


class WorkerHeartbeat(Model):
    """One row per running `flask feedback worker` process, rewritten as it works.

    Not a workspace's data: the workers serve every workspace, and a delivery
    page only asks whether any of them is alive. A row per process (not per
    round) keeps the table as small as the number of workers; rows of workers
    long gone are pruned by the live ones.
    """

    __tablename__ = "worker_heartbeat"
    __table_args__ = (
        CheckConstraint("messages_sent >= 0", name="messages_sent_not_negative"),
        CheckConstraint("messages_failed >= 0", name="messages_failed_not_negative"),
        Index("ix_worker_heartbeat_last_seen_at", "last_seen_at"),
    )

    id: Mapped[intpk]
    # host:pid, unique while the process runs.
    name: Mapped[str] = mapped_column(String(200), unique=True)
    started_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]
    # What this process did since it started: emails and webhook calls sent,
    # and those that gave up for good.
    messages_sent: Mapped[int] = mapped_column(default=0)
    messages_failed: Mapped[int] = mapped_column(default=0)
    last_sent_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"<WorkerHeartbeat {self.name} {self.last_seen_at:%H:%M:%S}>"
