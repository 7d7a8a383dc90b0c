"""Minimal gunicorn settings read from the repository root (`gunicorn wsgi:app`).

Only what /metrics needs: in prometheus-client's multiprocess mode (when
PROMETHEUS_MULTIPROC_DIR is set) a worker that exits must be marked dead, so
its live gauges are dropped from the sum; its counters are kept.
"""

from __future__ import annotations

import os
from typing import Any


def child_exit(_server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
