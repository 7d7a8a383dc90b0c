"""Upgrading a filled database to head keeps every row, from every earlier revision.

The demo is generated once at head; for each earlier revision R an empty
database is migrated to R, given the demo's rows (the tables and columns R
has, parents first), upgraded to head and compared with the original. An
empty database hides data loss: on SQLite a batch operation recreates a table,
and with foreign keys on, dropping a parent cascaded into every child table.

The revisions are enumerated from the scripts, so a new migration is covered
as soon as the next one is written.
"""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask_migrate import upgrade

from feedback import create_app
from feedback.config import config_for_tests, normalise_database_url
from feedback.extensions import db
from feedback.insights import search
from tests.support import ROOT
from tests.support.database import POSTGRES_URL, migrate_to_head

MIGRATIONS = ROOT / "migrations"
SCRIPTS = ScriptDirectory(str(MIGRATIONS))
HEAD = SCRIPTS.get_current_head()
# Newest first, so a failure in the latest migration shows up first.
EARLIER_REVISIONS = [
    script.revision for script in SCRIPTS.walk_revisions() if script.revision != HEAD
]
# The demo answers this many surveys: enough for rows in every table, small
# enough for a few seconds per revision.
DEMO_RESPONSES = 40
# Columns an old revision requires that head no longer has: (table, column) -> value.
VALUES_FOR_DROPPED_COLUMNS: dict[tuple[str, str], Any] = {}

Rows = dict[str, dict[tuple[Any, ...], dict[str, Any]]]


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(normalise_database_url(url))


@pytest.fixture(scope="module")
def scratch_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], str]]:
    """Makes empty databases (a file on SQLite, a database on the PostgreSQL server)."""
    folder = tmp_path_factory.mktemp("upgrades")
    made: list[str] = []
    admin = (
        sa.create_engine(
            normalise_database_url(
                sa.make_url(POSTGRES_URL)
                .set(database="postgres")
                .render_as_string(hide_password=False)
            ),
            isolation_level="AUTOCOMMIT",
        )
        if POSTGRES_URL
        else None
    )

    def make(label: str) -> str:
        if admin is None:
            return f"sqlite:///{folder / f'{label}.sqlite'}"
        name = f"feedback_upgrade_{label}_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    yield make
    if admin is not None:
        with admin.connect() as conn:
            for name in made:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _fill_tables_the_demo_leaves_empty(now: dt.datetime) -> None:
    """A row in each table the demo does not write, so every table is carried over."""
    tables = db.metadata.tables
    session = db.session
    workspace_id, owner_id = session.execute(
        sa.select(tables["membership"].c.workspace_id, tables["membership"].c.user_id).limit(1)
    ).one()
    testimonial_id = session.scalar(sa.select(sa.func.min(tables["testimonial"].c.id)))
    extra = {
        "api_key": {
            "name": "Shop",
            "prefix": "fbk_upgrade",
            "key_hash": "a" * 64,
            "created_at": now,
            "created_by_id": owner_id,
        },
        "webhook_endpoint": {
            "url": "https://hooks.example.com/feedback",
            "events": "response.created",
            "secret": "s" * 32,
            "active": True,
            "created_at": now,
        },
        "consent_link": {
            "testimonial_id": testimonial_id,
            "token_hash": "b" * 64,
            "created_at": now,
        },
        "testimonial_use": {
            "testimonial_id": testimonial_id,
            "channel": "wall",
            "first_at": now,
            "last_at": now,
        },
        "testimonial_tag": {"testimonial_id": testimonial_id, "tag": "upgrade-check"},
        "outbox_message": {
            "kind": "email",
            "payload": {"to": "customer@example.net", "subject": "Thank you"},
            "dedupe_key": "upgrade-check",
            "status": "sent",
            "attempts": 1,
            "next_attempt_at": now,
            "created_at": now,
            "sent_at": now,
        },
    }
    for name, values in extra.items():
        _insert_if_empty(tables[name], {"workspace_id": workspace_id, **values})
    job = tables["import_job"]
    _insert_if_empty(
        job,
        {
            "workspace_id": workspace_id,
            "file_name": "touchpoints.csv",
            "send": True,
            "state": "pending",
            "total_rows": 2,
            "updated_at": now,
            "created_at": now,
        },
    )
    job_id = session.scalar(sa.select(sa.func.min(job.c.id)))
    line = {"workspace_id": workspace_id, "job_id": job_id, "line": 2}
    _insert_if_empty(
        tables["import_row"],
        line
        | {
            "email": "ann@example.com",
            "name": "Ann",
            "stage": "purchase",
            "touchpoint": "checkout",
            "event_id": "order-1",
            "occurred_at": "",
        },
    )
    _insert_if_empty(tables["import_rejection"], line | {"line": 3, "reason": "unknown stage"})
    # Tables of no workspace.
    _insert_if_empty(
        tables["user_session"],
        {"user_id": owner_id, "token_hash": "c" * 64, "created_at": now, "last_seen_at": now},
    )
    _insert_if_empty(
        tables["login_throttle"], {"email_hash": "d" * 64, "failures": 1, "window_start": now}
    )
    _insert_if_empty(
        tables["worker_heartbeat"],
        {
            "name": "worker-host:1234",
            "started_at": now,
            "last_seen_at": now,
            "messages_sent": 3,
            "messages_failed": 0,
        },
    )


def _insert_if_empty(table: sa.Table, values: dict[str, Any]) -> None:
    session = db.session
    if session.scalar(sa.select(sa.func.count()).select_from(table)) == 0:
        session.execute(table.insert().values(**values))


def _read_rows(engine: sa.Engine, metadata: sa.MetaData) -> Rows:
    rows: Rows = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            key = [column.name for column in table.primary_key.columns]
            rows[table.name] = {
                tuple(row[k] for k in key): dict(row)
                for row in conn.execute(sa.select(table)).mappings()
            }
    return rows


def _reflect(engine: sa.Engine) -> sa.MetaData:
    metadata = sa.MetaData()
    # The SQLite search index (a virtual table and its shadow tables) is the triggers' to
    # fill from the responses, never copied row by row.
    metadata.reflect(engine, only=lambda name, _: search.include_name(name, "table", None))
    metadata.remove(metadata.tables["alembic_version"])
    return metadata


def _triggers(engine: sa.Engine) -> set[tuple[str, str]]:
    """(table, trigger) pairs: SQLite drops a table's triggers when a batch recreates it."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            query = "SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'"
        else:
            query = (
                "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE NOT t.tgisinternal AND n.nspname = 'public'"
            )
        return {(table, name) for table, name in conn.execute(sa.text(query))}


@dataclass(frozen=True)
class HeadDemo:
    rows: Rows
    triggers: set[tuple[str, str]]


@pytest.fixture(scope="module")
def head_demo(scratch_database: Callable[[str], str]) -> HeadDemo:
    """The demo, generated once at head through the CLI, plus a row in every other table."""
    url = scratch_database("head")
    migrate_to_head(url)
    app = create_app(config_for_tests(url))
    with app.app_context():
        result = app.test_cli_runner().invoke(
            args=["feedback", "demo", "--responses", str(DEMO_RESPONSES)]
        )
        assert result.exit_code == 0, result.output
        _fill_tables_the_demo_leaves_empty(dt.datetime.now(dt.UTC))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    engine = _engine(url)
    try:
        demo = HeadDemo(_read_rows(engine, _reflect(engine)), _triggers(engine))
    finally:
        engine.dispose()
    assert demo.triggers, "head has triggers (consent records are final) to look for"
    return demo


def _copy_into(engine: sa.Engine, metadata: sa.MetaData, demo: Rows) -> dict[str, int]:
    """The demo's rows in the tables and columns this older schema has; counts copied."""
    copied: dict[str, int] = {}
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            source = demo[table.name]
            assert source, (
                f"the demo leaves {table.name} empty: fill it, or its upgrade is untested"
            )
            head_columns = next(iter(source.values())).keys()
            values: dict[str, Any] = {}
            for column in table.columns:
                if column.name in head_columns:
                    continue
                if not column.nullable and column.server_default is None:
                    assert (table.name, column.name) in VALUES_FOR_DROPPED_COLUMNS, (
                        f"{table.name}.{column.name} is required here but gone at head: "
                        "give it a value in VALUES_FOR_DROPPED_COLUMNS"
                    )
                    values[column.name] = VALUES_FOR_DROPPED_COLUMNS[(table.name, column.name)]
            batch = [
                {name: value for name, value in row.items() if name in table.columns} | values
                for row in source.values()
            ]
            conn.execute(table.insert(), batch)
            copied[table.name] = len(batch)
        if engine.dialect.name == "postgresql":
            # Ids were given explicitly; a migration that inserts must not collide with them.
            for table in metadata.sorted_tables:
                if "id" in table.columns:
                    conn.execute(
                        sa.text(
                            "SELECT setval(pg_get_serial_sequence(:table, 'id'), "
                            f'(SELECT max(id) FROM "{table.name}"))'
                        ),
                        {"table": table.name},
                    )
    return copied


@pytest.mark.slow
@pytest.mark.parametrize("revision", EARLIER_REVISIONS)
def test_upgrading_a_filled_database_to_head_keeps_every_row(
    revision: str, head_demo: HeadDemo, scratch_database: Callable[[str], str]
) -> None:
    url = scratch_database(revision)
    app = create_app(config_for_tests(url))
    with app.app_context():
        upgrade(directory=str(MIGRATIONS), revision=revision)
        db.engine.dispose()
    engine = _engine(url)
    try:
        old_schema = _reflect(engine)
        copied = _copy_into(engine, old_schema, head_demo.rows)
        with app.app_context():
            upgrade(directory=str(MIGRATIONS))
            db.engine.dispose()
        after = _read_rows(engine, _reflect(engine))
        triggers = _triggers(engine)
    finally:
        engine.dispose()

    counts = {name: len(after[name]) for name in copied}
    assert counts == copied
    for table in old_schema.sorted_tables:
        kept = set(table.columns.keys())
        for key, original in head_demo.rows[table.name].items():
            upgraded = after[table.name][key]
            assert {c: upgraded[c] for c in kept} == {c: original[c] for c in kept}, (
                f"{table.name} {key} changed in the upgrade from {revision}"
            )
    assert triggers == head_demo.triggers


# -- a migration that would leave rows pointing at nothing is refused ----------------------

DANGLING_MIGRATION = f'''"""deletes stages that responses point at (a broken migration)"""
from alembic import op
import sqlalchemy as sa

revision = "dangling0001"
down_revision = "{HEAD}"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("workspace") as batch_op:
        batch_op.add_column(sa.Column("broken_flag", sa.Boolean(), nullable=True))
    op.execute("DELETE FROM stage")


def downgrade():
    pass
'''


def test_an_upgrade_that_would_leave_dangling_foreign_keys_on_sqlite_is_refused_and_rolled_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # SQLite alone: there the migration runs with foreign keys off, and only
    # foreign_key_check stands between a bad migration and orphaned rows.
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    (migrations / "versions" / "dangling0001_broken.py").write_text(DANGLING_MIGRATION)
    url = f"sqlite:///{tmp_path / 'filled.sqlite'}"
    migrate_to_head(url)
    app = create_app(config_for_tests(url))
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["feedback", "demo", "--responses", "5"])
        assert result.exit_code == 0, result.output
        db.session.remove()
        db.engine.dispose()
        # Flask-Migrate reports the error and exits 1, as `flask db upgrade` would.
        with pytest.raises(SystemExit):
            upgrade(directory=str(migrations))
        db.engine.dispose()
    assert "pointing at missing rows" in capsys.readouterr().err

    engine = _engine(url)
    try:
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT version_num FROM alembic_version")) == HEAD
            assert conn.scalar(sa.text("SELECT count(*) FROM stage")) > 0
            assert conn.scalar(sa.text("SELECT count(*) FROM response")) == 5
            assert conn.execute(sa.text("PRAGMA foreign_key_check")).all() == []
        # The batch copy before the delete was undone too: one transaction for all of it.
        assert "broken_flag" not in {c["name"] for c in sa.inspect(engine).get_columns("workspace")}
        assert "_alembic_tmp_workspace" not in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
