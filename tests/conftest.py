"""Fixtures: a real database for every test (SQLite by default, PostgreSQL with
TEST_DATABASE_URL), the app, its test client, CLI runner and a login helper.

SQLite: the schema is migrated once into a template file and each test gets a
copy. PostgreSQL: one database per run, migrated once, and every table is
truncated after each test. (Not warehouse's roll-back-the-outer-transaction
pattern: several tests need real commits seen by other threads and by a
gunicorn process.)
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy.orm import Session

from feedback import create_app
from feedback.config import Config, config_for_tests
from feedback.extensions import db
from tests.support.clients import AuthActions, RequestIsolatingClient
from tests.support.database import POSTGRES_URL, migrate_to_head
from tests.support.servers import gunicorn


def _with_database(server_url: str, name: str) -> str:
    return sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)


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


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


@pytest.fixture
def live_server(database_url: str, tmp_path: Path) -> Iterator[str]:
    """The real app under gunicorn (2 sync workers) on the test database; yields its URL."""
    with gunicorn(database_url, tmp_path) as (base, _log):
        yield base


# A PostgreSQL server of the test's own (outage tests stop and start it).
from tests.pg_cluster import private_postgres  # noqa: E402, F401
