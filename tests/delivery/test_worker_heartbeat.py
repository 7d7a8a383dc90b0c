"""Delivery tells the truth: the worker's heartbeat, the waiting age, a test email,
and a production worker that will not guess where emails go."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from feedback.accounts import services as accounts
from feedback.config import Config, ConfigError
from feedback.db import utcnow
from feedback.delivery import services
from feedback.delivery.mailer import SmtpMailer
from feedback.delivery.models import OutboxMessage, WorkerHeartbeat
from feedback.delivery.worker import DeliverySettings
from tests.factories import NOW, PASSWORD, make_owner, make_workspace
from tests.pages import csrf_token_from
from tests.support.delivery import run_in_thread, wait_for

NO_WORKER = "No worker has"


def heartbeats(db_session) -> list[WorkerHeartbeat]:
    db_session.expire_all()
    return list(db_session.scalars(select(WorkerHeartbeat)))


def beat(db_session, name: str, seen: dt.datetime) -> None:
    services.record_heartbeat(
        db_session,
        name,
        seen,
        started_at=seen,
        messages_sent=0,
        messages_failed=0,
        last_sent_at=None,
    )
    db_session.commit()


def queue_email(db_session, workspace_id: int, at: dt.datetime) -> None:
    services.enqueue_email(
        db_session, workspace_id, to="ann@example.com", subject="S", text="T", now=at
    )
    db_session.commit()


# -- the heartbeat -------------------------------------------------------------------


def test_a_worker_run_writes_one_heartbeat_row_with_what_it_sent(
    runner, app, db_session, smtp_server
):
    workspace = make_workspace(db_session)
    queue_email(db_session, workspace.id, utcnow())
    smtp_server.start()
    app.config["SMTP_URL"] = smtp_server.url
    before = utcnow()
    result = runner.invoke(args=["feedback", "worker", "--once"])
    assert result.exit_code == 0, result.output
    [heartbeat] = heartbeats(db_session)
    assert heartbeat.last_seen_at >= before
    assert (heartbeat.messages_sent, heartbeat.messages_failed) == (1, 0)
    assert heartbeat.last_sent_at is not None
    # The same process again: its row is rewritten, not a row per round.
    assert runner.invoke(args=["feedback", "worker", "--once"]).exit_code == 0
    assert len(heartbeats(db_session)) == 1


def test_a_running_worker_keeps_its_heartbeat_fresh(app, db_session, smtp_server):
    smtp_server.start()
    settings = DeliverySettings(mail_from="shop@example.com", retry_base_seconds=1, max_attempts=2)
    stop, thread, errors = run_in_thread(
        app, SmtpMailer.from_url(smtp_server.url), settings, interval=0.05
    )
    try:
        wait_for(lambda: len(heartbeats(db_session)) == 1, 10)
    finally:
        stop.set()
        thread.join(10)
    assert errors == []
    [heartbeat] = heartbeats(db_session)
    assert utcnow() - heartbeat.last_seen_at < dt.timedelta(seconds=10)


def test_heartbeats_of_workers_long_gone_are_pruned(db_session):
    beat(db_session, "old-host:1", NOW - dt.timedelta(days=8))
    beat(db_session, "recent-host:2", NOW - dt.timedelta(days=1))
    beat(db_session, "this-host:3", NOW)
    assert sorted(h.name for h in heartbeats(db_session)) == ["recent-host:2", "this-host:3"]


# -- the delivery page ---------------------------------------------------------------


def test_the_page_says_no_worker_has_run_when_none_ever_did(client, db_session, auth):
    user, workspace = make_owner(db_session)
    queue_email(db_session, workspace.id, utcnow())
    auth.login(user.email, PASSWORD)
    page = client.get("/settings/delivery").text
    assert "No worker has run yet: emails are waiting." in page
    assert "flask --app wsgi feedback worker" in page


def test_the_page_says_no_worker_when_the_last_heartbeat_is_stale(client, db_session, auth):
    user, workspace = make_owner(db_session)
    queue_email(db_session, workspace.id, utcnow())
    seen = utcnow() - dt.timedelta(minutes=3)
    beat(db_session, "gone:1", seen)
    auth.login(user.email, PASSWORD)
    page = client.get("/settings/delivery").text
    since = seen.strftime("%Y-%m-%d %H:%M")
    assert f"No worker has sent email since {since} UTC: emails are waiting." in page


def test_the_page_does_not_warn_while_a_worker_is_running(client, db_session, auth):
    user, workspace = make_owner(db_session)
    queue_email(db_session, workspace.id, utcnow())
    beat(db_session, "alive:1", utcnow() - dt.timedelta(seconds=30))
    auth.login(user.email, PASSWORD)
    page = client.get("/settings/delivery").text
    assert NO_WORKER not in page
    assert "A worker is running" in page


def test_the_page_shows_how_long_the_oldest_waiting_message_has_waited(client, db_session, auth):
    user, workspace = make_owner(db_session)
    queue_email(db_session, workspace.id, utcnow() - dt.timedelta(hours=3, minutes=5))
    queue_email(db_session, workspace.id, utcnow() - dt.timedelta(minutes=1))
    # Another workspace's older backlog is not this one's.
    other = make_workspace(db_session)
    queue_email(db_session, other.id, utcnow() - dt.timedelta(days=4))
    auth.login(user.email, PASSWORD)
    page = client.get("/settings/delivery").text
    assert "the oldest has waited 3 h." in page


def test_the_page_shows_no_waiting_age_when_nothing_waits(client, db_session, auth):
    user, _ = make_owner(db_session)
    auth.login(user.email, PASSWORD)
    assert "the oldest has waited" not in client.get("/settings/delivery").text


# -- the test email ------------------------------------------------------------------


def test_an_owners_test_email_arrives_at_their_address_after_a_worker_run(
    client, runner, app, db_session, auth, smtp_server
):
    user, workspace = make_owner(db_session)
    auth.login(user.email, PASSWORD)
    page = client.get("/settings/delivery")
    assert "Send a test email" in page.text and user.email in page.text
    sent = client.post("/settings/delivery/test-email", data={"csrf_token": csrf_token_from(page)})
    assert sent.status_code == 302
    assert "Test email queued to your address" in client.get("/settings/delivery").text
    [message] = db_session.scalars(select(OutboxMessage)).all()
    assert (message.workspace_id, message.payload["links"]) == (workspace.id, False)
    smtp_server.start()
    app.config["SMTP_URL"] = smtp_server.url
    result = runner.invoke(args=["feedback", "worker", "--once"])
    assert result.exit_code == 0, result.output
    [envelope] = smtp_server.inbox.envelopes
    assert envelope[1] == [user.email]
    assert "Test email" in smtp_server.inbox.messages[0]["Subject"]


def test_a_member_may_not_send_a_test_email(client, db_session, auth):
    owner, workspace = make_owner(db_session)
    member, _ = accounts.add_member(db_session, workspace, "member@example.com", "member")
    accounts.set_password(db_session, member, PASSWORD, PASSWORD)
    db_session.commit()
    auth.login(owner.email, PASSWORD)
    token = csrf_token_from(client.get("/settings/delivery"))
    auth.logout()
    auth.login(member.email, PASSWORD)
    refused = client.post("/settings/delivery/test-email", data={"csrf_token": token})
    assert refused.status_code == 403
    assert db_session.scalars(select(OutboxMessage)).all() == []


def test_a_test_email_without_its_csrf_token_is_refused(client, db_session, auth):
    user, _ = make_owner(db_session)
    auth.login(user.email, PASSWORD)
    assert client.post("/settings/delivery/test-email").status_code == 400
    assert db_session.scalars(select(OutboxMessage)).all() == []


def test_test_emails_are_limited_to_five_an_hour(client, db_session, auth):
    user, _ = make_owner(db_session)
    auth.login(user.email, PASSWORD)
    token = csrf_token_from(client.get("/settings/delivery"))
    answers = [
        client.post("/settings/delivery/test-email", data={"csrf_token": token}).status_code
        for _ in range(6)
    ]
    assert answers == [302] * 5 + [429]
    assert len(db_session.scalars(select(OutboxMessage)).all()) == 5


# -- SMTP_URL ------------------------------------------------------------------------


def test_smtp_url_is_none_unless_the_environment_sets_it():
    assert Config.from_env({}).SMTP_URL is None
    assert Config.from_env({"SMTP_URL": " "}).SMTP_URL is None
    assert Config.from_env({"SMTP_URL": "smtp://mx:25"}).SMTP_URL == "smtp://mx:25"


def test_a_production_worker_refuses_to_start_without_smtp_url(make_app, database_url):
    environ = {"SECRET_KEY": "s" * 40, "DATABASE_URL": database_url}
    config = Config.from_env(environ)
    assert config.ENV == "production"
    app = make_app(config)
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["feedback", "worker", "--once"])
    assert result.exit_code != 0
    assert "SMTP_URL is not set" in result.output


def test_a_production_worker_starts_with_smtp_url(make_app, database_url, smtp_server):
    smtp_server.start()
    environ = {"SECRET_KEY": "s" * 40, "DATABASE_URL": database_url, "SMTP_URL": smtp_server.url}
    app = make_app(Config.from_env(environ))
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["feedback", "worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "sent 0" in result.output


def test_production_config_itself_still_loads_without_smtp_url():
    # The web processes never send mail: only the worker needs SMTP_URL.
    try:
        Config.from_env({"SECRET_KEY": "s" * 40}).to_flask("/tmp")
    except ConfigError as error:  # pragma: no cover - the failure this pins down
        raise AssertionError(error) from error
