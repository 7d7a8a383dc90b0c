"""Health, readiness, metrics and the JSON request log, as whoever runs the service sees them."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import Flask, request
from flask.testing import FlaskClient
from flask_migrate import upgrade
from prometheus_client.parser import text_string_to_metric_families

from feedback import access, create_app
from feedback.config import config_for_tests, normalise_database_url
from feedback.db import utcnow
from feedback.delivery.models import OutboxMessage
from feedback.delivery.services import record_heartbeat
from feedback.extensions import db
from feedback.surveys import import_runner
from tests.factories import PASSWORD, make_invitation, make_owner, make_workspace
from tests.pages import csrf_token_from
from tests.support import ROOT
from tests.support.api import api_client_for, event
from tests.support.clients import RequestIsolatingClient
from tests.support.database import POSTGRES_URL
from tests.support.import_jobs import SETTINGS, csv_of, no_pause, start_job
from tests.support.servers import free_port, gunicorn

TOKEN = "metrics-token-for-tests-0123456789"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
HEAD = ScriptDirectory(str(ROOT / "migrations")).get_current_head()


def monitored_app(database_url: str) -> Flask:
    config = config_for_tests(database_url)
    config.METRICS_TOKEN = TOKEN
    app = create_app(config)
    app.test_client_class = RequestIsolatingClient
    return app


@pytest.fixture
def monitored(database_url: str) -> Iterator[FlaskClient]:
    """A test client of an app with METRICS_TOKEN set, on the test database."""
    app = monitored_app(database_url)
    yield app.test_client()
    with app.app_context():
        db.engine.dispose()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text page, keyed by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(page: dict, name: str, **labels: str) -> float:
    return page.get((name, frozenset(labels.items())), 0.0)


def scrape(client: FlaskClient) -> dict:
    response = client.get("/metrics", headers=BEARER)
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    return samples(response.text)


def test_healthz_answers_ok_without_a_token_and_is_never_cached(client):
    response = client.get("/healthz")
    assert (response.status_code, response.text) == (200, "ok\n")
    assert response.headers["Cache-Control"] == "no-store"


def test_healthz_answers_even_when_the_database_does_not():
    config = config_for_tests(f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere")
    app = create_app(config)
    assert app.test_client().get("/healthz").status_code == 200


@pytest.mark.parametrize("path", ["/readyz", "/metrics"])
def test_readyz_and_metrics_do_not_exist_without_metrics_token(client, path):
    assert client.get(path, headers=BEARER).status_code == 404


@pytest.mark.parametrize("path", ["/readyz", "/metrics"])
@pytest.mark.parametrize(
    "header", [None, "Bearer wrong-token", f"Basic {TOKEN}", TOKEN, "Bearer", "Bearer  "]
)
def test_readyz_and_metrics_need_the_right_bearer_token(monitored, path, header):
    headers = {"Authorization": header} if header is not None else {}
    assert monitored.get(path, headers=headers).status_code == 404


def test_readyz_is_ready_on_a_database_migrated_to_head(monitored):
    response = monitored.get("/readyz", headers=BEARER)
    assert response.status_code == 200, response.json
    assert response.json["database"] == "ok"
    assert response.json["migrations"] == "at head"
    assert response.json["revision"] == [HEAD]
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_answers_503_when_the_database_cannot_be_reached():
    app = monitored_app(f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere")
    response = app.test_client().get("/readyz", headers=BEARER)
    assert response.status_code == 503
    assert response.json["database"] == "unreachable"


@pytest.fixture
def database_behind_head(tmp_path: Path) -> Iterator[str]:
    """A database migrated to the revision before head, as during an upgrade."""
    if POSTGRES_URL:
        name = f"feedback_behind_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(
            normalise_database_url(
                sa.make_url(POSTGRES_URL).set(database="postgres").render_as_string(False)
            ),
            isolation_level="AUTOCOMMIT",
        )
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = sa.make_url(POSTGRES_URL).set(database=name).render_as_string(False)
    else:
        url = f"sqlite:///{tmp_path / 'behind.sqlite'}"
    previous = ScriptDirectory(str(ROOT / "migrations")).get_revision(HEAD).down_revision
    app = create_app(config_for_tests(url))
    with app.app_context():
        upgrade(revision=previous)
        db.engine.dispose()
    yield url
    if POSTGRES_URL:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_readyz_answers_503_naming_the_revision_when_migrations_are_behind(
    database_behind_head,
):
    app = monitored_app(database_behind_head)
    response = app.test_client().get("/readyz", headers=BEARER)
    with app.app_context():
        db.engine.dispose()
    assert response.status_code == 503
    assert response.json["database"] == "ok"
    assert response.json["migrations"] == "not at head"
    assert response.json["head"] == [HEAD]
    assert response.json["revision"] != [HEAD]


def test_request_counters_use_the_route_rule_and_status(monitored, db_session):
    before = scrape(monitored)
    token = make_invitation(db_session, make_workspace(db_session), now=utcnow()).token
    assert monitored.get(f"/s/{token}").status_code == 200
    assert monitored.get("/no/such/page").status_code == 404
    after = scrape(monitored)
    route = {"route": "/s/<token>", "method": "GET", "status": "200"}
    assert value(after, "feedback_http_requests_total", **route) - value(
        before, "feedback_http_requests_total", **route
    ) == pytest.approx(1)
    unmatched = {"route": "(unmatched)", "method": "GET", "status": "404"}
    assert value(after, "feedback_http_requests_total", **unmatched) > value(
        before, "feedback_http_requests_total", **unmatched
    )
    histogram = {"route": "/s/<token>", "method": "GET"}
    assert value(after, "feedback_http_request_duration_seconds_count", **histogram) > 0
    # The path with its token never becomes a label.
    assert token not in monitored.get("/metrics", headers=BEARER).text


def test_a_submit_and_a_touchpoint_call_move_their_counters(monitored, db_session):
    workspace = make_workspace(db_session)
    token = make_invitation(db_session, workspace, now=utcnow()).token
    api = api_client_for(monitored, db_session, workspace)
    before = scrape(monitored)
    form = monitored.get(f"/s/{token}")
    submitted = monitored.post(
        f"/s/{token}", data={"csrf_token": csrf_token_from(form), "rating": "5"}
    )
    assert submitted.status_code == 303, submitted.text
    assert api.post("/api/v1/touchpoints", json=event()).status_code == 201
    # The same event again creates nothing, and is not counted.
    assert api.post("/api/v1/touchpoints", json=event()).status_code == 200
    after = scrape(monitored)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("feedback_responses_submitted_total") == pytest.approx(1)
    assert moved("feedback_invitations_created_total", source="api") == pytest.approx(1)
    # The touchpoint queued its email: the outbox gauge, read at scrape time, says so.
    assert value(after, "feedback_outbox_messages", kind="email", status="pending") == 1
    assert value(after, "feedback_outbox_oldest_pending_seconds", kind="email") >= 0
    db_session.expire_all()
    assert db_session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == 1


def test_every_response_carries_a_request_id_and_keeps_a_safe_one_it_was_given(client):
    made = client.get("/healthz").headers["X-Request-ID"]
    assert len(made) == 32
    assert client.get("/healthz").headers["X-Request-ID"] != made
    given = "req-7f3a.b_9"
    assert client.get("/healthz", headers={"X-Request-ID": given}).headers["X-Request-ID"] == given
    for unsafe in ("<script>", "a" * 65, "id with spaces", "ann@example.com"):
        echoed = client.get("/healthz", headers={"X-Request-ID": unsafe}).headers["X-Request-ID"]
        assert echoed != unsafe and len(echoed) == 32


def test_an_error_page_shows_the_request_id(client):
    page = client.get("/no/such/page", headers={"X-Request-ID": "trace-404-abc"})
    assert page.status_code == 404
    assert "trace-404-abc" in page.text


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_each_request_is_one_json_line_without_emails_or_tokens(client, db_session, capsys):
    email = "owner-in-logs@example.com"
    make_owner(db_session, email=email)
    token = make_invitation(
        db_session, make_workspace(db_session), email="customer-in-logs@example.com", now=utcnow()
    ).token
    capsys.readouterr()
    form = client.get(f"/s/{token}?utm=x", headers={"X-Request-ID": "trace-1"})
    comment = "The parcel was left in the rain"
    client.post(
        f"/s/{token}",
        data={"csrf_token": csrf_token_from(form), "rating": "2", "comment": comment},
    )
    login = client.get("/login")
    client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf_token_from(login)},
    )
    client.get("/dashboard")
    err = capsys.readouterr().err
    lines = [line for line in json_lines(err) if line["logger"] == "feedback.requests"]
    assert [(line["method"], line["route"], line["status"]) for line in lines] == [
        ("GET", "/s/<token>", 200),
        ("POST", "/s/<token>", 303),
        ("GET", "/login", 200),
        ("POST", "/login", 302),
        ("GET", "/dashboard", 200),
    ]
    assert lines[0]["request_id"] == "trace-1"
    assert all(len(line["request_id"]) == 32 for line in lines[1:])
    assert all(isinstance(line["duration_ms"], float) for line in lines)
    assert all({"time", "workspace_id"} <= set(line) for line in lines)
    assert lines[-1]["workspace_id"] is not None
    for secret in (token, email, "customer-in-logs", PASSWORD, comment, "utm"):
        assert secret not in err


@pytest.mark.slow
def test_metrics_add_up_across_two_gunicorn_workers_and_logs_are_json(
    database_url, tmp_path, db_session
):
    """Several processes: without the multiprocess mode each reports only its own count."""
    shared = tmp_path / "prometheus"
    shared.mkdir()
    email = "gunicorn-owner@example.com"
    make_owner(db_session, email=email)
    token = make_invitation(db_session, make_workspace(db_session), now=utcnow()).token
    settings = {"METRICS_TOKEN": TOKEN, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    with gunicorn(database_url, tmp_path, settings) as (base, log_path):

        def probe(_: int) -> int:
            return requests.get(f"{base}/healthz", timeout=10).status_code

        def healthz_pids() -> set[int]:
            return {
                line["pid"]
                for line in json_lines(log_path.read_text())
                if line.get("route") == "/healthz"
            }

        # Until both workers have answered some (an idle one may win every accept).
        requests_made, deadline = 0, time.monotonic() + 30
        with ThreadPoolExecutor(4) as pool:
            while len(healthz_pids()) < 2 and time.monotonic() < deadline:
                assert set(pool.map(probe, range(20))) == {200}
                requests_made += 20
        assert len(healthz_pids()) == 2, "only one gunicorn worker answered"
        with requests.Session() as browser:
            form = browser.get(f"{base}/s/{token}", timeout=10)
            submitted = browser.post(
                f"{base}/s/{token}",
                data={"csrf_token": csrf_token_from(form.text), "rating": "4"},
                allow_redirects=False,
                timeout=10,
            )
            assert submitted.status_code == 303
            login = browser.get(f"{base}/login", timeout=10)
            logged_in = browser.post(
                f"{base}/login",
                data={
                    "email": email,
                    "password": PASSWORD,
                    "csrf_token": csrf_token_from(login.text),
                },
                allow_redirects=False,
                timeout=10,
            )
            assert logged_in.status_code == 302
        healthz = {"route": "/healthz", "method": "GET", "status": "200"}
        for _ in range(4):  # whichever worker answers the scrape, the sum is the same
            page = samples(requests.get(f"{base}/metrics", headers=BEARER, timeout=10).text)
            assert value(page, "feedback_http_requests_total", **healthz) == requests_made
            assert value(page, "feedback_responses_submitted_total") == 1
    log = log_path.read_text()
    lines = [line for line in json_lines(log) if line.get("logger") == "feedback.requests"]
    assert len(lines) >= requests_made + 4
    assert {line["route"] for line in lines} >= {"/healthz", "/s/<token>", "/login", "/metrics"}
    for secret in (token, email, PASSWORD, TOKEN):
        assert secret not in log


def test_invitations_from_a_bulk_call_and_a_csv_import_are_counted_by_source(monitored, db_session):
    workspace = make_workspace(db_session)
    api = api_client_for(monitored, db_session, workspace)
    before = scrape(monitored)
    bulk = api.post(
        "/api/v1/touchpoints/bulk",
        json={"events": [event(event_id="a"), event(event_id="b"), event(event_id="a")]},
    )
    assert [item["status"] for item in bulk.json["results"]] == [201, 201, 200]
    job_id = start_job(db_session, workspace, csv_of(3))
    job = import_runner.run_import_job(db_session, job_id, SETTINGS, pause=no_pause)
    assert job is not None and job.recorded == 3
    after = scrape(monitored)
    created = "feedback_invitations_created_total"
    assert value(after, created, source="api") - value(before, created, source="api") == 2
    assert value(after, created, source="import") - value(before, created, source="import") == 3


def test_an_unexpected_error_is_logged_as_json_with_its_type_but_not_its_message(
    app, client, capsys
):
    @app.get("/boom-for-test")
    @access.public
    def boom() -> str:
        raise RuntimeError(f"secret {request.args['who']}")

    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer 500, as in production
    capsys.readouterr()
    response = client.get(
        "/boom-for-test?who=customer@example.com", headers={"X-Request-ID": "trace-500"}
    )
    assert response.status_code == 500
    assert "trace-500" in response.text
    err = capsys.readouterr().err
    [error] = [line for line in json_lines(err) if "exception" in line]
    assert error["exception"] == "builtins.RuntimeError" and "boom" in error["traceback"]
    [request_line] = [line for line in json_lines(err) if line["logger"] == "feedback.requests"]
    assert (request_line["status"], request_line["request_id"]) == (500, "trace-500")
    assert "customer@example.com" not in "".join(
        line for line in err.splitlines() if line.startswith("{")
    )


def test_the_worker_heartbeat_age_is_a_gauge_once_a_worker_has_run(monitored, db_session):
    assert ("feedback_worker_heartbeat_age_seconds", frozenset()) not in scrape(monitored)
    a_minute_ago = utcnow() - dt.timedelta(minutes=1)
    record_heartbeat(
        db_session,
        "worker-host:42",
        a_minute_ago,
        started_at=a_minute_ago,
        messages_sent=0,
        messages_failed=0,
        last_sent_at=None,
    )
    db_session.commit()
    age = value(scrape(monitored), "feedback_worker_heartbeat_age_seconds")
    assert 59 <= age < 120


def test_the_request_log_names_the_workspace_without_asking_the_database_again(
    app, client, db_session, capsys
):
    # The view has committed, which expires the workspace object. Loading it
    # again just to log its id cost a query per request, and a database lost
    # right after the commit turned a stored touchpoint into an error answer.
    api = api_client_for(client, db_session, make_workspace(db_session))
    after_the_view: list[str] = []

    def note(_conn, _cursor, statement, *_args) -> None:
        if request and getattr(request, "_view_done", False):
            after_the_view.append(statement)

    @app.after_request
    def view_done(response):  # runs before the log line's hook (they run in reverse)
        request._view_done = True
        return response

    sa.event.listen(db.engine, "before_cursor_execute", note)
    try:
        capsys.readouterr()
        answer = api.post("/api/v1/touchpoints", json=event())
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", note)
    assert answer.status_code == 201, answer.text
    assert [s for s in after_the_view if s.lstrip().upper().startswith("SELECT")] == []
    [line] = [
        line
        for line in json_lines(capsys.readouterr().err)
        if line["logger"] == "feedback.requests"
    ]
    assert line["workspace_id"] == api.workspace.id
