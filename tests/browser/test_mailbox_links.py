"""In a real browser: the development mailbox shows the email's HTML, and a
click on its survey link (inside the sandboxed frame) opens the survey in the
tab, where the customer answers."""

from __future__ import annotations

from sqlalchemy import select

from feedback import create_app
from feedback.config import Config
from feedback.db import utcnow
from feedback.extensions import db
from feedback.surveys import emails
from feedback.surveys.models import Response
from tests.factories import PASSWORD, make_invitation, make_owner
from tests.support.browser import browser_needed, log_in
from tests.support.servers import free_port, gunicorn

pytestmark = browser_needed


def test_the_survey_link_in_a_mailbox_email_opens_the_survey_and_answers_it(
    browser, database_url, tmp_path, monkeypatch
):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    instance = tmp_path / "instance"
    monkeypatch.setenv("FEEDBACK_INSTANCE_PATH", str(instance))
    app = create_app(
        Config(ENV="development", SECRET_KEY="dev-key", DATABASE_URL=database_url, BASE_URL=base)
    )
    with app.app_context():
        user, workspace = make_owner(db.session)
        issued = make_invitation(
            db.session, workspace, email="ann@example.com", sent=False, now=utcnow()
        )
        emails.queue_invitation_email(
            db.session, workspace, issued, base_url=base, secret_key="dev-key", now=utcnow()
        )
        db.session.commit()
        owner_email, token = user.email, issued.token
        result = app.test_cli_runner().invoke(args=["feedback", "worker", "--once"])
        assert "sent 1," in result.output, result.output
        db.session.remove()
        db.engine.dispose()

    # `make run`'s settings: development, no SMTP_URL.
    settings = {"FEEDBACK_ENV": "development", "SECRET_KEY": "dev-key", "SMTP_URL": None}
    context = None
    with gunicorn(database_url, tmp_path, settings, port=port, workers=1):
        try:
            context = browser.new_context()
            page = context.new_page()
            log_in(page, base, owner_email, PASSWORD)
            page.goto(f"{base}/settings/delivery")
            page.click("text=Mailbox")
            page.wait_for_url("**/settings/delivery/mailbox")
            page.click("td a")  # the one email
            frame = page.frame_locator("iframe.email-html")
            frame.locator(f"a[href='{base}/s/{token}']").first.click()
            page.wait_for_url(f"{base}/s/{token}")
            page.click("label[for=rating-5]")
            page.click("button[type=submit]")
            page.wait_for_url(f"**/s/{token}/thanks")
        finally:
            if context is not None:
                context.close()
    with app.app_context():
        assert db.session.scalar(select(Response.rating)) == 5
        db.session.remove()
        db.engine.dispose()
