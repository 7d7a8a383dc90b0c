"""Fixtures: a real database for every test (SQLite by default, PostgreSQL with
TEST_DATABASE_URL), the app, its test client, CLI runner and a login helper.

SQLite: the schema is migrated once into a template file and each test gets a
copy. PostgreSQL: one database per run, migrated once, and every table is
truncated after each test. (Not warehouse's roll-back-the-outer-transaction
pattern: several tests need real commits seen by other threads and by a
gunicorn process.)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from flask_migrate import upgrade
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from feedback import create_app
from feedback.config import Config, config_for_tests
from feedback.extensions import db
from tests.pages import csrf_token_from

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "").strip()


def _with_database(server_url: str, name: str) -> str:
    return sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)


def migrate_to_head(url: str) -> None:
    """Build the schema from empty with the project's migrations."""
    app = create_app(config_for_tests(url))
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Where the migrated test schema lives for this run."""
    if POSTGRES_URL:
        name = f"feedback_test_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(
            _with_database(POSTGRES_URL, "postgres"), isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = _with_database(POSTGRES_URL, name)
        migrate_to_head(url)
        yield {"kind": "postgresql", "url": url}
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        template = tmp_path_factory.mktemp("schema") / "template.sqlite"
        migrate_to_head(f"sqlite:///{template}")
        yield {"kind": "sqlite", "template": str(template)}


@pytest.fixture
def database_url(database: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """A database with the full schema and no rows, for this test alone."""
    if database["kind"] == "sqlite":
        path = tmp_path / "test.sqlite"
        shutil.copyfile(database["template"], path)
        yield f"sqlite:///{path}"
        return
    yield database["url"]
    engine = sa.create_engine(database["url"].replace("postgresql://", "postgresql+psycopg://"))
    tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


class RequestIsolatingClient(FlaskClient):
    """Each request gets its own app context, as under a real server.

    Without this, requests would reuse the test's app context and so share
    `g` (where Flask-WTF caches the CSRF token) and the database session.
    """

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        # Buffered: a streamed body (CSV exports) is read inside this context.
        kwargs.setdefault("buffered", True)
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    app = create_app(config_for_tests(database_url))
    app.test_client_class = RequestIsolatingClient
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def make_app() -> Iterator[Callable[[Config], Flask]]:
    """More app instances (standing for other workers), their pools closed afterwards."""
    apps: list[Flask] = []

    def build(config: Config) -> Flask:
        apps.append(create_app(config))
        return apps[-1]

    yield build
    for extra in apps:
        with extra.app_context():
            db.engine.dispose()


@pytest.fixture
def db_session(app: Flask) -> Session:
    return db.session


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


class AuthActions:
    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def login(self, email: str, password: str) -> None:
        response = self.client.get("/login")
        assert response.status_code == 200
        response = self.client.post(
            "/login",
            data={"email": email, "password": password, "csrf_token": csrf_token_from(response)},
        )
        assert response.status_code == 302, response.text

    def logout(self) -> None:
        page = self.client.get("/dashboard")
        self.client.post("/logout", data={"csrf_token": csrf_token_from(page)})


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


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


@pytest.fixture
def live_server(database_url: str, tmp_path: Path) -> Iterator[str]:
    """The real app under gunicorn (2 sync workers) on the test database; yields its URL."""
    with gunicorn(database_url, tmp_path) as (base, _log):
        yield base


# A PostgreSQL server of the test's own (outage tests stop and start it).
from tests.pg_cluster import private_postgres  # noqa: E402, F401
