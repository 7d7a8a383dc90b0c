"""The fault suite's short version (`bench/faults.py --short`), as CI runs it.

It brings its own PostgreSQL cluster, SMTP server, gunicorn and mail workers,
so it runs once, in the SQLite half of `make test` (TEST_DATABASE_URL unset):
the PostgreSQL half would only run the same thing again.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pg_cluster import postgres_binaries_missing

ROOT = Path(__file__).resolve().parent.parent
FAULTS = ("kill -9 a gunicorn worker", "restart PostgreSQL", "SMTP down", "kill -9 a mail worker")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(os.environ.get("TEST_DATABASE_URL")),
        reason="runs once, in the SQLite half: it brings its own PostgreSQL cluster",
    ),
]


def test_nothing_is_lost_or_doubled_when_processes_die_and_servers_go_down(tmp_path):
    missing = postgres_binaries_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the fault suite needs a private PostgreSQL cluster: {missing}")
        pytest.skip(f"no private PostgreSQL cluster: {missing}")
    figures = tmp_path / "faults.json"
    suite = subprocess.Popen(
        [sys.executable, "bench/faults.py", "--short", "--json", str(figures)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = suite.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        # SIGTERM, not SIGKILL: the suite then stops its servers and its cluster.
        suite.terminate()
        stdout, stderr = suite.communicate(timeout=120)
    assert suite.returncode == 0, stdout[-4000:] + stderr[-4000:]
    rows = [line for line in stdout.splitlines() if line.startswith(FAULTS)]
    assert [row[:26].strip() for row in rows] == list(FAULTS)
    for row in rows:
        # missing, stored twice, email missing, duplicates (<=bound), 5xx not 503
        assert re.match(r".{26} +0 +0 +0 +\d+ \(<=\d+\) +0 ", row), row
    faults = json.loads(figures.read_text())["faults"]
    assert [f["fault"] for f in faults] == list(FAULTS)
    for fault in faults:
        assert (
            fault["missing_submits"],
            fault["stored_twice"],
            fault["never_emailed"],
            fault["other_5xx"],
        ) == (0, 0, 0, 0)
        assert fault["emailed_twice"] <= fault["duplicate_bound"]
        # The load really ran through every fault.
        assert fault["submits_accepted"] > 0 and fault["invitations"] > 0
