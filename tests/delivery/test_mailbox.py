"""The development mailbox: without SMTP_URL the worker keeps emails locally and
the owner reads them under delivery, links and all; nowhere else does it exist."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from feedback import create_app
from feedback.config import Config
from feedback.db import utcnow
from feedback.extensions import db
from feedback.surveys import emails
from feedback.surveys.models import Response
from tests.factories import PASSWORD, make_invitation, make_owner
from tests.pages import csrf_token_from
from tests.support.clients import RequestIsolatingClient


@pytest.fixture
def dev_app(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """The app as `make run` configures it (development, no SMTP_URL), its instance in tmp."""
    monkeypatch.setenv("FEEDBACK_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app(
        Config(
            ENV="development",
            SECRET_KEY="test-secret-key",
            DATABASE_URL=database_url,
            BASE_URL="http://localhost",
            TESTING=True,
        )
    )
    app.test_client_class = RequestIsolatingClient
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def invite_and_run_worker(app: Flask) -> tuple[str, str]:
    """An owner, and an emailed invitation sent by `flask feedback worker --once`:
    (owner email, survey token)."""
    session = db.session
    user, workspace = make_owner(session)
    issued = make_invitation(session, workspace, email="ann@example.com", sent=False, now=utcnow())
    emails.queue_invitation_email(
        session,
        workspace,
        issued,
        base_url=app.config["BASE_URL"],
        secret_key=app.config["SECRET_KEY"],
        now=utcnow(),
    )
    session.commit()
    result = app.test_cli_runner().invoke(args=["feedback", "worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "sent 1," in result.output
    return user.email, issued.token


def login(client, email: str) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf_token_from(page)},
    )
    assert response.status_code == 302


def test_the_development_worker_without_smtp_writes_the_invitation_into_the_mailbox(dev_app):
    invite_and_run_worker(dev_app)
    folder = Path(dev_app.instance_path) / "mailbox"
    [kept] = [p for p in folder.iterdir() if not p.name.startswith(".")]
    assert kept.suffix == ".eml"
    text = kept.read_text()
    assert "To: ann@example.com" in text
    assert "List-Unsubscribe:" in text


def test_the_owner_reads_the_email_in_the_mailbox_and_its_link_answers_the_survey(dev_app):
    owner_email, token = invite_and_run_worker(dev_app)
    client = dev_app.test_client()
    login(client, owner_email)

    delivery = client.get("/settings/delivery")
    assert "emails are kept locally" in delivery.text
    assert 'href="/settings/delivery/mailbox"' in delivery.text

    listing = client.get("/settings/delivery/mailbox")
    assert listing.status_code == 200
    assert "ann@example.com" in listing.text
    [message_path] = re.findall(r'href="(/settings/delivery/mailbox/[^"]+)"', listing.text)

    page = client.get(message_path)
    assert page.status_code == 200
    for header in ("From", "To", "Subject", "Date", "List-Unsubscribe"):
        assert f"<dt>{header}</dt>" in page.text
    # The HTML part, in a frame that runs no script and cannot reach this page;
    # its links open in the whole tab (our pages refuse to be framed).
    [frame] = re.findall(r"<iframe [^>]*>", page.text)
    sandbox = re.search(r'sandbox="([^"]*)"', frame).group(1).split()
    assert "allow-scripts" not in sandbox and "allow-same-origin" not in sandbox
    assert "allow-top-navigation-by-user-activation" in sandbox
    framed = html.unescape(re.search(r'srcdoc="([^"]*)"', frame).group(1))
    assert '<base target="_top">' in framed
    survey_url = f"http://localhost/s/{token}"
    assert f'href="{survey_url}"' in framed
    assert survey_url in page.text.split('class="email-text"', 1)[1]  # the text part
    policy = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy

    # Following the link answers the survey.
    form = client.get(f"/s/{token}")
    assert form.status_code == 200
    answered = client.post(f"/s/{token}", data={"csrf_token": csrf_token_from(form), "rating": "5"})
    assert answered.status_code == 303
    assert db.session.scalar(select(func.count()).select_from(Response)) == 1


@pytest.mark.parametrize(
    "name",
    ["../x", "..%2Fx", "%2Fetc%2Fpasswd", "..%2F..%2Finstance%2Ffeedback.sqlite", "nothing.eml"],
)
def test_a_name_that_is_not_a_kept_message_is_404(dev_app, name):
    owner_email, _token = invite_and_run_worker(dev_app)
    # A file next to the mailbox that a traversal would reach.
    (Path(dev_app.instance_path) / "x").write_text("secret")
    client = dev_app.test_client()
    login(client, owner_email)
    assert client.get(f"/settings/delivery/mailbox/{name}").status_code == 404


def test_the_mailbox_is_404_outside_development(app, client, db_session, auth):
    user, _workspace = make_owner(db_session)
    auth.login(user.email, PASSWORD)
    assert client.get("/settings/delivery/mailbox").status_code == 404
    assert client.get("/settings/delivery").status_code == 200
    assert "Mailbox" not in client.get("/settings/delivery").text


def test_development_with_smtp_url_has_no_mailbox():
    settings = Config.from_env(
        {"FEEDBACK_ENV": "development", "SMTP_URL": "smtp://127.0.0.1:2525"}
    ).to_flask("/tmp/instance")
    assert settings["MAILBOX_ENABLED"] is False
    production = Config.from_env({"FEEDBACK_ENV": "production", "SECRET_KEY": "x" * 40})
    assert production.to_flask("/tmp/instance")["MAILBOX_ENABLED"] is False


def test_the_production_worker_still_refuses_to_start_without_smtp_url(app):
    app.config.update(FEEDBACK_ENV="production", SMTP_URL=None, MAILBOX_ENABLED=False)
    result = app.test_cli_runner().invoke(args=["feedback", "worker", "--once"])
    assert result.exit_code != 0
    assert "SMTP_URL is not set" in result.output
