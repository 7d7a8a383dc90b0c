"""A PostgreSQL server of the test's own, to stop and start at will.

The machine's shared server must never be restarted by a test; outage tests
(a worker or a web request while the database is down) run against a cluster
made here with `initdb` on a free port, in a temporary folder, and removed
afterwards. As root (CI), the server runs as the `postgres` system user, since
PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def postgres_binaries_missing() -> str | None:
    """Why a private cluster cannot be made here, or None when it can."""
    if _binary("initdb") is None or _binary("pg_ctl") is None:
        return "initdb/pg_ctl not found (apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateCluster:
    """`initdb` + `pg_ctl` on a free port; `stop()` and `start()` simulate an outage."""

    def __init__(self) -> None:
        missing = postgres_binaries_missing()
        if missing:
            raise RuntimeError(missing)
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="feedback-pg-"))
        self.data = self.root / "data"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self.root.chmod(0o700)
        self._run(
            _binary("initdb") or "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        )

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        command = list(argv)
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            _binary("pg_ctl") or "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "start",
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        """Stop at once, cutting every connection (as a crash or a restart would)."""
        self._run(_binary("pg_ctl") or "pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def private_postgres() -> Iterator[PrivateCluster]:
    """A started private cluster for one test (skipped only where PostgreSQL isn't installed
    and the run does not require it)."""
    missing = postgres_binaries_missing()
    if missing:
        if os.environ.get("TEST_DATABASE_URL") or os.environ.get("CI"):
            pytest.fail(f"a private PostgreSQL cluster is needed: {missing}")
        pytest.skip(f"no private PostgreSQL cluster: {missing}")
    cluster = PrivateCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.remove()
