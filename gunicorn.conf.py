"""Gunicorn settings for the web process: `gunicorn -c gunicorn.conf.py wsgi:app`.

Everything a deployment varies comes from the environment (the systemd unit's
EnvironmentFile, or the platform's settings), so this file is the same everywhere.
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

# Behind nginx on the same machine, listen on loopback only. A platform that
# hands out a port in $PORT (Heroku style) gets every interface on it.
bind = os.environ.get("GUNICORN_BIND") or (
    f"0.0.0.0:{os.environ['PORT']}" if os.environ.get("PORT") else "127.0.0.1:8000"
)


def _default_workers() -> int:
    # SQLite takes one writer at a time: more than 2 sync workers only queue on
    # its lock. PostgreSQL: the usual 2 x cores + 1 sync workers.
    if os.environ.get("DATABASE_URL", "sqlite").startswith("sqlite"):
        return 2
    return multiprocessing.cpu_count() * 2 + 1


workers = int(os.environ.get("WEB_CONCURRENCY") or _default_workers())
worker_class = "sync"

# The app gives up on the database well inside this (5 s to connect, 10 s for
# a pooled connection) and answers 503, so a request killed here is a bug.
timeout = 30
# On SIGTERM (a deploy, `systemctl restart`) requests in flight get this long to finish.
graceful_timeout = 30
# nginx keeps connections to gunicorn open; a little above its own default.
keepalive = 5

# Recycle each worker after about this many requests, at staggered times, so a
# slow leak never grows and the workers never all restart at once.
max_requests = 1000
max_requests_jitter = 100

# The app itself logs one line per request (with its request id), so gunicorn's
# access log is off unless asked for: GUNICORN_ACCESS_LOG=- for stdout.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

# forwarded_allow_ips stays at gunicorn's default (127.0.0.1 and ::1). The app
# decides which X-Forwarded-* headers to believe itself, with PROXY_COUNT (the
# number of proxies in front, 1 for one nginx), so nothing here should widen
# it: "*" would let anyone who reaches gunicorn directly claim to be on HTTPS.

# Each worker imports the app after forking, so a database pool is never
# shared across processes.
preload_app = False


def post_worker_init(worker: Any) -> None:
    # A sync worker tells the master it is alive only between requests: a CSV
    # export streaming for longer than `timeout` would be killed midway. The
    # app notifies through this as the export's pieces go out (feedback/streaming.py).
    from feedback.streaming import keep_worker_alive

    keep_worker_alive(worker.notify)


def child_exit(_server: Any, worker: Any) -> None:
    # prometheus-client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR): a worker
    # that exits must be marked dead, so its live gauges leave the sum (its
    # counters are kept).
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
