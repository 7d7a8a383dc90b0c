"""Real local servers: the app under gunicorn, and an HTTP endpoint receiving webhooks."""

from __future__ import annotations

import contextlib
import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support import ROOT


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def gunicorn(
    database_url: str,
    folder: Path,
    extra_env: dict[str, str | None] | None = None,
    *,
    port: int | None = None,
    workers: int = 2,
) -> Iterator[tuple[str, Path]]:
    """The real app under gunicorn (sync workers) on `database_url`: its URL and its log.

    `extra_env` adds settings (e.g. METRICS_TOKEN) to the server's environment;
    a None value removes the variable (e.g. SMTP_URL, for `make run`'s settings).
    """
    port = port or free_port()
    env: dict[str, str | None] = {
        **os.environ,
        "FEEDBACK_ENV": "production",
        "SECRET_KEY": "gunicorn-test-secret-key-0123456789",
        "DATABASE_URL": database_url,
        "BASE_URL": f"http://127.0.0.1:{port}",
        "FEEDBACK_INSTANCE_PATH": str(folder / "instance"),
        **(extra_env or {}),
    }
    log_path = folder / "gunicorn.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "--workers", str(workers)),
                *("--bind", f"127.0.0.1:{port}", "wsgi:app"),
            ],
            cwd=ROOT,
            env={name: value for name, value in env.items() if value is not None},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/login", timeout=5)
                break
            # Not up yet, or booting slowly on a busy machine.
            except (requests.ConnectionError, requests.Timeout):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"gunicorn did not start:\n{log_path.read_text()}")
                time.sleep(0.2)
        yield base, log_path
    finally:
        process.terminate()
        process.wait(timeout=20)


class Receiver:
    """A local HTTP endpoint recording what it gets; answers with `status`."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        self.location: str | None = None  # sent with the status, e.g. for a 302
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                self.send_response(receiver.status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
