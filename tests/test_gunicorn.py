"""The real app under gunicorn, answered over HTTP like a customer's phone would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from feedback.db import utcnow
from feedback.surveys.models import Invitation, Response
from tests.factories import make_invitation, make_workspace
from tests.pages import csrf_token_from

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(database_url, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "FEEDBACK_ENV": "production",
        "SECRET_KEY": "gunicorn-test-secret-key-0123456789",
        "DATABASE_URL": database_url,
        "BASE_URL": f"http://127.0.0.1:{port}",
        "FEEDBACK_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/login", timeout=2)
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"gunicorn did not start:\n{log_path.read_text()}")
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.slow
def test_a_customer_answers_a_survey_through_gunicorn(server, db_session):
    workspace = make_workspace(db_session, "Greenleaf Plants")
    link = make_invitation(db_session, workspace, now=utcnow())
    with requests.Session() as browser:
        form = browser.get(f"{server}/s/{link.token}", timeout=10)
        assert form.status_code == 200
        assert "Greenleaf Plants" in form.text
        result = browser.post(
            f"{server}/s/{link.token}",
            data={
                "csrf_token": csrf_token_from(form.text),
                "rating": "2",
                "comment": "The fern arrived with broken fronds.",
                "testimonial_opt_in": "y",
                "display_name": "Sam",
            },
            allow_redirects=False,
            timeout=10,
        )
        assert result.status_code == 303, result.text
        thanks = browser.get(f"{server}{result.headers['Location']}", timeout=10)
        assert thanks.status_code == 200
        assert "will get back to you" in thanks.text
        again = browser.get(f"{server}/s/{link.token}", timeout=10)
        assert again.status_code == 409
    db_session.expire_all()
    response = db_session.scalar(select(Response))
    assert (response.rating, response.testimonial_opt_in) == (2, True)
    assert response.sentiment_label is not None
    assert db_session.scalar(select(Invitation.status)) == "answered"
