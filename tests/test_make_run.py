"""`make run`'s last step: honcho starts the Procfile's web and worker
processes together, and one Ctrl-C (SIGINT to the group) stops both."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support import ROOT
from tests.support.servers import free_port

BIN = Path(sys.executable).parent


def test_the_procfile_is_valid_for_honcho():
    result = subprocess.run(
        [BIN / "honcho", "check"], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert "(web, worker)" in result.stderr + result.stdout


def test_honcho_starts_web_and_a_mailbox_worker_and_one_ctrl_c_stops_both(database_url, tmp_path):
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "SMTP_"))},
        # As the Makefile's run target sets them.
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "FEEDBACK_ENV": "development",
        "DATABASE_URL": database_url,
        "BASE_URL": f"http://127.0.0.1:{port}",
        "FEEDBACK_INSTANCE_PATH": str(tmp_path / "instance"),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
    }
    log_path = tmp_path / "honcho.log"
    with log_path.open("wb") as log:
        honcho = subprocess.Popen(
            [BIN / "honcho", "start"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal's foreground job
        )
    try:
        deadline = time.monotonic() + 40
        while True:
            log_text = log_path.read_text()
            try:
                answered = requests.get(f"http://127.0.0.1:{port}/login", timeout=5).status_code
            except (requests.ConnectionError, requests.Timeout):
                answered = None
            if answered == 200 and "emails go to the local mailbox" in log_text:
                break
            if honcho.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"web and worker did not both start:\n{log_text}")
            time.sleep(0.3)
        os.killpg(honcho.pid, signal.SIGINT)  # what Ctrl-C sends
        honcho.wait(timeout=30)
    finally:
        if honcho.poll() is None:
            os.killpg(honcho.pid, signal.SIGKILL)
            honcho.wait()
    log_text = log_path.read_text()
    assert re.search(r"web\.1 stopped", log_text), log_text
    assert re.search(r"worker\.1 stopped", log_text), log_text
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/login", timeout=5)
