"""The deployment files load and name commands that exist: gunicorn.conf.py, Procfile, systemd."""

from __future__ import annotations

import configparser
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "WEB_CONC"))},
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "FEEDBACK_ENV": "production",
        "SECRET_KEY": "deploy-files-test-secret-key-0123456789",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.sqlite'}",
        "FEEDBACK_INSTANCE_PATH": str(tmp_path / "instance"),
        **extra,
    }


def procfile() -> dict[str, list[str]]:
    processes = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            processes[name.strip()] = shlex.split(command)
    return processes


def gunicorn_settings(tmp_path: Path, **extra: str) -> dict[str, str]:
    printed = subprocess.run(
        [BIN / "gunicorn", "-c", "gunicorn.conf.py", "--print-config", "wsgi:app"],
        cwd=ROOT,
        env=production_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {
        name.strip(): value.strip()
        for name, _, value in (line.partition("=") for line in printed.splitlines())
    }


def test_gunicorn_config_has_the_timeouts_and_no_access_log(tmp_path):
    settings = gunicorn_settings(tmp_path)
    assert settings["bind"] == "['127.0.0.1:8000']"
    assert settings["timeout"] == "30"
    assert settings["graceful_timeout"] == "30"
    assert settings["accesslog"] == "None"  # the app logs each request itself
    assert int(settings["max_requests"]) > 0 and int(settings["max_requests_jitter"]) > 0
    assert settings["workers"] == "2"  # SQLite: more only queue on its write lock


def test_gunicorn_config_takes_bind_and_workers_from_the_environment(tmp_path):
    settings = gunicorn_settings(tmp_path, GUNICORN_BIND="127.0.0.1:9123", WEB_CONCURRENCY="5")
    assert settings["bind"] == "['127.0.0.1:9123']"
    assert settings["workers"] == "5"
    on_a_platform = gunicorn_settings(tmp_path, PORT="5055")
    assert on_a_platform["bind"] == "['0.0.0.0:5055']"


def test_procfile_web_command_loads_the_app_with_the_config(tmp_path):
    web = procfile()["web"]
    assert web[0] == "gunicorn" and "gunicorn.conf.py" in web
    checked = subprocess.run(
        [BIN / web[0], *web[1:], "--check-config"],
        cwd=ROOT,
        env=production_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr


def test_procfile_worker_command_is_the_outbox_worker(tmp_path):
    worker = procfile()["worker"]
    assert worker[0] == "flask"
    helped = subprocess.run(
        [BIN / worker[0], *worker[1:], "--help"],
        cwd=ROOT,
        env=production_env(tmp_path),
        capture_output=True,
        text=True,
    )
    assert helped.returncode == 0, helped.stderr
    assert "Send the outbox" in helped.stdout


@pytest.mark.parametrize("unit", ["feedback-web.service", "feedback-worker.service"])
def test_systemd_unit_runs_the_procfile_command_as_its_own_user(unit):
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(ROOT / "deploy" / "systemd" / unit)
    service = parser["Service"]
    assert service["User"] == "feedback"
    assert service["EnvironmentFile"] == "/etc/feedback/env"
    assert service["Restart"] == "on-failure"
    assert service["NoNewPrivileges"] == "true"
    assert service["ProtectSystem"] == "strict"
    assert "ReadWritePaths" in service
    process = "web" if "web" in unit else "worker"
    command = shlex.split(service["ExecStart"])
    assert Path(command[0]).name == procfile()[process][0]
    assert command[1:] == procfile()[process][1:]
