"""The outbox as Prometheus sees it: read from the database at each scrape (see `metrics`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from feedback.delivery.models import OutboxMessage, WorkerHeartbeat
from feedback.extensions import db


class OutboxCollector(Collector):
    """Outbox depth by kind and status, and the age of the oldest due message, read now."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "feedback_outbox_messages",
            "Outbox messages by kind and status (pending ones wait to be sent).",
            labels=["kind", "status"],
        )
        rows = db.session.execute(
            select(OutboxMessage.kind, OutboxMessage.status, func.count()).group_by(
                OutboxMessage.kind, OutboxMessage.status
            )
        ).all()
        for kind, status, number in rows:
            depth.add_metric([kind, status], number)
        yield depth
        oldest = GaugeMetricFamily(
            "feedback_outbox_oldest_pending_seconds",
            "Age of the oldest pending outbox message (0 when none waits), by kind.",
            labels=["kind"],
        )
        waiting = db.session.execute(
            select(OutboxMessage.kind, func.min(OutboxMessage.created_at))
            .where(OutboxMessage.status == "pending")
            .group_by(OutboxMessage.kind)
        ).all()
        ages = {kind: _age_seconds(created, self.now) for kind, created in waiting}
        for kind in sorted({"email", "webhook", *ages}):
            oldest.add_metric([kind], ages.get(kind, 0.0))
        yield oldest
        last_beat = db.session.scalar(select(func.max(WorkerHeartbeat.last_seen_at)))
        if isinstance(last_beat, str):  # SQLite hands back text for an aggregate
            last_beat = dt.datetime.fromisoformat(last_beat)
        heartbeat = GaugeMetricFamily(
            "feedback_worker_heartbeat_age_seconds",
            "Seconds since any delivery worker last wrote its heartbeat (absent: none ever).",
        )
        if last_beat is not None:
            heartbeat.add_metric([], _age_seconds(last_beat, self.now))
        yield heartbeat
        db.session.rollback()  # end the read transaction; nothing to keep


def _age_seconds(moment: dt.datetime | None, now: dt.datetime) -> float:
    if moment is None:
        return 0.0
    if moment.tzinfo is None:  # SQLite hands back naive UTC
        moment = moment.replace(tzinfo=dt.UTC)
    return max((now - moment).total_seconds(), 0.0)
