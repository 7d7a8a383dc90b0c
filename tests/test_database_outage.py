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
from tests.conftest import free_port, gunicorn, migrate_to_head
from tests.factories import NOW, PASSWORD, make_invitation, make_owner, make_workspace
from tests.pages import csrf_token_from
from tests.pg_cluster import PrivateCluster

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


@pytest.mark.slow
def test_an_api_call_whose_commit_loses_the_database_answers_503_not_500(
    private_postgres: PrivateCluster,
) -> None:
    # The connection dies at the very commit of a new touchpoint (a PostgreSQL
    # restart at the wrong moment, as bench/faults.py provokes): nothing was
    # stored, so the answer is 503 and the client's retry records it.
    url = private_postgres.create_database("commit_lost")
    migrate_to_head(url)
    app = create_app(config_for_tests(url))
    app.config["PROPAGATE_EXCEPTIONS"] = False
    with app.app_context():
        workspace = make_workspace(db.session)
        key = create_api_key(db.session, workspace, "commit test", NOW).secret
        db.session.commit()
        wrote_invitation, cuts = [], []

        def note_insert(_conn, _cursor, statement, *_args) -> None:
            if statement.lstrip().upper().startswith("INSERT INTO INVITATION"):
                wrote_invitation.append(True)

        def cut_at_commit(conn) -> None:
            if wrote_invitation and not cuts:  # once: the retry goes through
                cuts.append(True)
                backend = conn.connection.dbapi_connection.info.backend_pid
                with psycopg.connect(private_postgres.url, autocommit=True) as admin:
                    admin.execute("SELECT pg_terminate_backend(%s)", (backend,))

        event.listen(db.engine, "before_cursor_execute", note_insert)
        event.listen(db.engine, "commit", cut_at_commit)
        event_body = {
            "contact": {"email": "cut@example.com"},
            "stage": "retention",
            "touchpoint": "support-ticket-solved",
            "event_id": "cut-1",
        }
        api = {"Authorization": f"Bearer {key}"}
        client = app.test_client()
        cut = client.post("/api/v1/touchpoints", json=event_body, headers=api)
        assert cut.status_code == 503, cut.text
        assert cut.json["error"]["code"] == "unavailable"
        retried = client.post("/api/v1/touchpoints", json=event_body, headers=api)
        assert retried.status_code == 201, retried.text
        assert cuts == [True]
        db.session.remove()
        db.engine.dispose()
