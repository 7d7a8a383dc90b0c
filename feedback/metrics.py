"""Prometheus metrics: every metric the service counts is defined here, and `/metrics`.

Counters and histograms live in the process that moves them. With several
gunicorn workers (and the delivery worker on the same machine) each process
keeps its own, so prometheus-client's multiprocess mode is used when
`PROMETHEUS_MULTIPROC_DIR` names a directory shared by them: each process
writes its values to files there and a scrape adds them up. The variable must
be set before the process starts (prometheus-client reads it on import), and
the directory emptied at each start of the service (e.g. systemd's
`RuntimeDirectory=`). Unset, each process reports only its own counts, which is
right for one process (`flask run`, tests) and wrong for several.

What the database knows (outbox depth, the oldest waiting message) is read
with a query at scrape time, so every web process reports the same truth and
no background thread keeps a gauge up to date: the package that owns those
rows collects them (`delivery.monitoring`), and `/metrics` hands its
collector to `exposition`.
"""

from __future__ import annotations

import hmac
import os

from flask import Response, abort, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

HTTP_REQUESTS = Counter(
    "feedback_http_requests_total",
    "HTTP requests answered, by route rule (not the raw path), method and status.",
    ["route", "method", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "feedback_http_request_duration_seconds",
    "Time from the request's arrival in the app to its response, by route rule and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
RESPONSES_SUBMITTED = Counter(
    "feedback_responses_submitted_total", "Survey answers stored (committed)."
)
INVITATIONS_CREATED = Counter(
    "feedback_invitations_created_total",
    "Survey invitations created, by source: the touchpoint API or a CSV import.",
    ["source"],
)
OUTBOX_DELIVERIES = Counter(
    "feedback_outbox_deliveries_total",
    "Outbox messages handled by the delivery worker, by kind (email, webhook) and outcome: "
    "sent, retrying (failed, will be tried again) or failed (given up).",
    ["kind", "outcome"],
)

# The route label of requests no rule matched (404s, scanners): one series, not one per path.
UNMATCHED_ROUTE = "(unmatched)"


def multiprocess_dir() -> str | None:
    """The shared directory of the multiprocess mode, or None for one process."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def count_deliveries(kind: str, sent: int, retrying: int, failed: int) -> None:
    """Count one batch's outcomes of the delivery worker."""
    for outcome, number in (("sent", sent), ("retrying", retrying), ("failed", failed)):
        if number:
            OUTBOX_DELIVERIES.labels(kind=kind, outcome=outcome).inc(number)


def exposition(*live_collectors: Collector) -> bytes:
    """This process's (or, in multiprocess mode, every process's) metrics, then what
    `live_collectors` read now (the outbox's: `delivery.monitoring.OutboxCollector`)."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    live = CollectorRegistry()
    for collector in live_collectors:
        live.register(collector)
    return generate_latest(registry) + generate_latest(live)


def bearer_token_matches(expected: str) -> bool:
    """Whether the request carries `Authorization: Bearer <expected>` (constant-time compare)."""
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), expected.encode()
    )


def require_monitoring_token() -> None:
    """404 unless METRICS_TOKEN is set and the request carries it.

    Unset, the monitoring pages do not exist (fail closed); a wrong or missing
    token gets 404 too, so a scanner learns nothing.
    """
    expected = current_app.config["METRICS_TOKEN"]
    if not expected or not bearer_token_matches(expected):
        abort(404)


def metrics_response(*live_collectors: Collector) -> Response:
    return Response(exposition(*live_collectors), mimetype=None, content_type=CONTENT_TYPE_LATEST)
