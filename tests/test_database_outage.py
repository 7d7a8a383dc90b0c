"""While the database can't be used, people get a 503 that says to try again, not a 500,
and the service recovers by itself when the database is back.

The PostgreSQL outage is real: a private cluster (tests/pg_cluster.py) is
stopped and started under a running gunicorn. SQLite's "database is locked"
is real too: another connection holds the write lock.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from feedback import create_app
from feedback.accounts.services import create_api_key
from feedback.config import config_for_tests, normalise_database_url
from feedback.db import utcnow
from feedback.errors import database_unavailable
from feedback.extensions import db
from tests.factories import NOW, PASSWORD, make_invitation, make_owner, make_workspace
from tests.pages import csrf_token_from
from tests.pg_cluster import PrivateCluster
from tests.support.clients import RequestIsolatingClient
from tests.support.database import migrate_to_head
from tests.support.servers import free_port, gunicorn

FRIENDLY = "try again in a minute"


def _log_in(browser: requests.Session, base: str, email: str) -> None:
    form = browser.get(f"{base}/login", timeout=10)
    answer = browser.post(
        f"{base}/login",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf_token_from(form.text)},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text


@pytest.mark.slow
def test_a_postgresql_outage_answers_503_and_gunicorn_recovers_by_itself(
    private_postgres: PrivateCluster, tmp_path: Path
) -> None:
    url = private_postgres.create_database("outage")
    migrate_to_head(url)
    app = create_app(config_for_tests(url))
    with app.app_context():
        user, workspace = make_owner(db.session)
        key = create_api_key(db.session, workspace, "outage test", NOW).secret
        db.session.commit()
        email = user.email
        db.session.remove()
        db.engine.dispose()
    api = {"Authorization": f"Bearer {key}"}

    with gunicorn(url, tmp_path) as (base, log_path), requests.Session() as browser:
        _log_in(browser, base, email)
        # Several requests, so both workers hold pooled connections when the server goes.
        for _ in range(4):
            assert browser.get(f"{base}/dashboard", timeout=10).status_code == 200
            assert requests.get(f"{base}/api/v1/stages", headers=api, timeout=10).ok

        private_postgres.stop()
        for _ in range(4):
            page = browser.get(f"{base}/dashboard", timeout=15)
            assert page.status_code == 503, page.text
            assert page.headers["Retry-After"] == "60"
            assert page.headers["Cache-Control"] == "no-store"
            assert FRIENDLY in page.text
            answer = requests.get(f"{base}/api/v1/stages", headers=api, timeout=15)
            assert answer.status_code == 503
            # About a minute: the rate limiter rewrites the header to its own clock.
            assert 50 <= int(answer.headers["Retry-After"]) <= 60
            assert answer.json()["error"]["code"] == "unavailable"

        private_postgres.start()
        # The same browser, still logged in; no request fails on a stale connection.
        statuses = [browser.get(f"{base}/dashboard", timeout=10).status_code for _ in range(6)]
        statuses += [
            requests.get(f"{base}/api/v1/stages", headers=api, timeout=10).status_code
            for _ in range(4)
        ]
        assert statuses == [200] * 10

        # A quick restart between requests: every pooled connection is dead, and
        # still no request fails (each is tested on checkout and replaced).
        private_postgres.stop()
        private_postgres.start()
        statuses = [browser.get(f"{base}/dashboard", timeout=10).status_code for _ in range(6)]
        assert statuses == [200] * 6

    log = log_path.read_text()
    assert "database unavailable, answered 503 to GET /dashboard" in log
    assert "Traceback" not in log
    assert email not in log and key not in log


@pytest.fixture
def sqlite_path(database_url: str) -> Path:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's write lock")
    return Path(sa.make_url(database_url).database or "")


def test_a_write_that_outwaits_sqlites_lock_answers_503_and_succeeds_when_retried(
    app: Flask, client: FlaskClient, db_session: Session, sqlite_path: Path
) -> None:
    # 0.2 s instead of the 15 s busy timeout the app waits in production.
    event.listen(
        db.engine, "connect", lambda conn, _record: conn.execute("PRAGMA busy_timeout=200")
    )
    db.engine.dispose()
    link = make_invitation(db_session, make_workspace(db_session), now=utcnow())
    form = client.get(f"/s/{link.token}")
    answer = {"csrf_token": csrf_token_from(form), "rating": "4"}

    writer = sqlite3.connect(sqlite_path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
        refused = client.post(f"/s/{link.token}", data=answer)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "60"
    assert FRIENDLY in refused.text

    # The session was cleaned up: the same app, retried, records the answer.
    retried = client.post(f"/s/{link.token}", data=answer)
    assert retried.status_code == 303, retried.text


def test_a_database_without_the_schema_is_a_500_not_an_outage(tmp_path: Path) -> None:
    # "no such table" is SQLite's OperationalError too, but retrying won't help:
    # it stays a logged 500 so whoever deployed sees it.
    app = create_app(config_for_tests(f"sqlite:///{tmp_path / 'unmigrated.sqlite'}"))
    app.config["PROPAGATE_EXCEPTIONS"] = False
    with app.app_context():
        page = app.test_client().get("/t/some-business")
        db.engine.dispose()
    assert page.status_code == 500
    assert "Retry-After" not in page.headers


def _error_from(engine: sa.Engine, statement: str) -> sa.exc.SQLAlchemyError:
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(statement))
    except sa.exc.SQLAlchemyError as error:
        return error
    finally:
        engine.dispose()
    raise AssertionError(f"{statement!r} did not fail")


def test_connection_failures_and_lock_timeouts_count_as_outages_and_bugs_do_not(
    tmp_path: Path,
) -> None:
    refused = _error_from(
        sa.create_engine(
            normalise_database_url(f"postgresql://postgres@127.0.0.1:{free_port()}/none")
        ),
        "SELECT 1",
    )
    path = tmp_path / "locked.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
    holder.execute("BEGIN IMMEDIATE")
    try:
        locked = _error_from(
            sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.1}),
            "INSERT INTO t (x) VALUES (1)",
        )
    finally:
        holder.execute("ROLLBACK")
    holder.execute("INSERT INTO t (x) VALUES (1)")
    holder.close()
    sqlite_engine = sa.create_engine(f"sqlite:///{path}")
    missing_table = _error_from(sqlite_engine, "SELECT * FROM nowhere")
    duplicate = _error_from(sqlite_engine, "INSERT INTO t (x) VALUES (1)")

    assert isinstance(refused, sa.exc.OperationalError)
    assert database_unavailable(refused)
    assert database_unavailable(locked)
    assert not database_unavailable(missing_table)
    assert not database_unavailable(duplicate)
    assert not database_unavailable(ValueError("not a database error"))


class ConnectionCutter:
    """Ends the request's own PostgreSQL connection (pg_terminate_backend, as a
    restart does) just before its `cut_at`-th statement or commit."""

    def __init__(self, engine: sa.Engine, admin_url: str) -> None:
        self.admin_url = admin_url
        self.cut_at: int | None = None
        self.seen = 0
        self.cut: str | None = None  # what it cut before
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)

    def arm(self, cut_at: int | None) -> None:
        self.cut_at, self.seen, self.cut = cut_at, 0, None

    def _statement(self, conn, _cursor, statement, *_args) -> None:
        self._step(conn, statement.split()[0])

    def _commit(self, conn) -> None:
        self._step(conn, "COMMIT")

    def _step(self, conn, what: str) -> None:
        self.seen += 1
        if self.seen == self.cut_at:
            self.cut = what
            backend = conn.connection.dbapi_connection.info.backend_pid
            with psycopg.connect(self.admin_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (backend,))


@pytest.mark.slow
def test_a_connection_lost_at_any_statement_of_a_write_answers_503_and_the_retry_stores_once(
    private_postgres: PrivateCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    # A PostgreSQL restart can strike between any two statements of a request,
    # the commit included (bench/faults.py does it under load). Whichever it
    # is, the answer is a 503 (nothing was stored) and the client's retry is
    # stored once; never a 500.
    url = private_postgres.create_database("cuts")
    migrate_to_head(url)
    app = create_app(config_for_tests(url))
    app.config["PROPAGATE_EXCEPTIONS"] = False
    app.test_client_class = RequestIsolatingClient  # a context (and session) per request
    with app.app_context():
        workspace = make_workspace(db.session)
        key = create_api_key(db.session, workspace, "cuts", NOW).secret
        links = [make_invitation(db.session, workspace, now=utcnow()).token for _ in range(40)]
        db.session.commit()
        db.session.remove()
        cutter = ConnectionCutter(db.engine, private_postgres.url)
    client = app.test_client()
    api = {"Authorization": f"Bearer {key}"}
    cuts: dict[str, list[str]] = {"touchpoint": [], "submit": []}

    for n in range(1, 40):
        body = {
            "contact": {"email": f"cut{n}@example.com"},
            "stage": "retention",
            "touchpoint": "support-ticket-solved",
            "event_id": f"cut-{n}",
        }
        cutter.arm(n)
        answer = client.post("/api/v1/touchpoints", json=body, headers=api)
        if cutter.cut is None:  # the request has fewer statements than n
            assert answer.status_code == 201
            break
        cuts["touchpoint"].append(cutter.cut)
        assert answer.status_code == 503, (cutter.cut, answer.status_code)
        cutter.arm(None)
        assert client.post("/api/v1/touchpoints", json=body, headers=api).status_code == 201

    for n in range(1, 40):
        browser = app.test_client()
        url_n = f"/s/{links[n]}"
        cutter.arm(None)
        answer_form = {"csrf_token": csrf_token_from(browser.get(url_n)), "rating": "4"}
        cutter.arm(n)
        answer = browser.post(url_n, data=answer_form)
        if cutter.cut is None:
            assert answer.status_code == 303
            break
        cuts["submit"].append(cutter.cut)
        assert answer.status_code == 503, (cutter.cut, answer.status_code)
        cutter.arm(None)
        assert browser.post(url_n, data=answer_form).status_code == 303

    # Every statement was tried, the commit among them.
    assert "COMMIT" in cuts["touchpoint"] and "COMMIT" in cuts["submit"]
    cutter.arm(None)
    with app.app_context():
        stored = db.session.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM invitation WHERE event_id LIKE 'cut-%'), "
                "(SELECT count(DISTINCT event_id) FROM invitation WHERE event_id LIKE 'cut-%'), "
                "(SELECT count(*) FROM response), "
                "(SELECT count(DISTINCT invitation_id) FROM response)"
            )
        ).one()
        db.session.remove()
        db.engine.dispose()
    assert stored[0] == stored[1] == len(cuts["touchpoint"]) + 1
    assert stored[2] == stored[3] == len(cuts["submit"]) + 1
    assert '"level": "error"' not in capsys.readouterr().err
