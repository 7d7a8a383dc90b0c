"""Health, readiness and metrics for whoever runs the service.

- `/healthz`: the process answers (no database), for a load balancer's liveness check.
- `/readyz`: the database answers and its schema is at the migrations' head;
  503 with what is wrong otherwise (e.g. during an upgrade, before
  `flask db upgrade` ran). Not public: it tells the schema's revision.
- `/metrics`: Prometheus text (see `feedback.metrics`). Not public.

The two private pages exist only when METRICS_TOKEN is set, and answer 404
unless the request carries `Authorization: Bearer <METRICS_TOKEN>`. They are
declared public at the access level (no login, no workspace) and check the
token themselves.
"""

from __future__ import annotations

import functools
from typing import Any

from alembic.script import ScriptDirectory
from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from feedback import access, metrics
from feedback.db import utcnow
from feedback.delivery.monitoring import OutboxCollector
from feedback.extensions import db

bp = Blueprint("health", __name__)


@functools.cache
def migration_heads(directory: str) -> frozenset[str]:
    """The head revisions of the migration scripts (read once per process: they don't change)."""
    return frozenset(ScriptDirectory(directory).get_heads())


def readiness() -> tuple[dict[str, Any], bool]:
    """What `/readyz` reports, and whether the service is ready."""
    heads = migration_heads(current_app.extensions["migrate"].directory)
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        db.session.rollback()
        return {"database": "unreachable", "error": type(error).__name__}, False
    try:
        current = frozenset(
            db.session.scalars(text("SELECT version_num FROM alembic_version")).all()
        )
    except SQLAlchemyError:
        db.session.rollback()
        current = frozenset()
    db.session.rollback()
    state: dict[str, Any] = {
        "database": "ok",
        "migrations": "at head" if current == heads else "not at head",
        "revision": sorted(current),
        "head": sorted(heads),
    }
    return state, current == heads


@bp.get("/healthz")
@access.public
def healthz() -> Response:
    """200 while the process can answer; touches nothing else."""
    return Response("ok\n", mimetype="text/plain")


@bp.get("/readyz")
@access.public  # not public in fact: the token is checked below
def readyz() -> tuple[Response, int]:
    """200 when the database answers and is migrated to head; 503 saying which is not."""
    metrics.require_monitoring_token()
    state, ready = readiness()
    return jsonify(state), 200 if ready else 503


@bp.get("/metrics")
@access.public  # not public in fact: the token is checked below
def prometheus_metrics() -> Response:
    """Prometheus text format: request counts and latencies, deliveries, outbox depth."""
    metrics.require_monitoring_token()
    return metrics.metrics_response(OutboxCollector(utcnow()))
