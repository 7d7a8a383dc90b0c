"""`flask feedback backup PATH`: a consistent copy made while the service runs, that restores."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from feedback.backup import find_postgres_program, libpq_url, pg_dump_command
from feedback.delivery.models import OutboxMessage
from feedback.extensions import db
from feedback.surveys.models import Response
from feedback.testimonials.models import Testimonial

KEPT = {"response": Response, "testimonial": Testimonial, "outbox_message": OutboxMessage}


def fill(runner) -> None:
    """A year of demo answers (with testimonial consents), and survey emails waiting to go out."""
    result = runner.invoke(
        args=["feedback", "demo", "--workspace", "acme-plants", "--responses", "300"]
    )
    assert result.exit_code == 0, result.output
    for number in range(5):
        result = runner.invoke(
            args=[
                *("feedback", "invite", "--workspace", "acme-plants", "--stage", "purchase"),
                *("--touchpoint", "checkout", "--email", f"buyer{number}@example.com", "--send"),
            ]
        )
        assert result.exit_code == 0, result.output


def ids_in(engine: sa.Engine) -> dict[str, list[int]]:
    with engine.connect() as conn:
        return {
            name: list(conn.scalars(sa.select(model.id).order_by(model.id)))
            for name, model in KEPT.items()
        }


def _version(program: str) -> int:
    output = subprocess.run([program, "--version"], capture_output=True, text=True).stdout
    found = re.search(r"\(PostgreSQL\)\s+(\d+)", output)
    return int(found.group(1)) if found else 0


def postgres_tools_or_skip(server_url: str) -> str:
    """pg_restore beside the pg_dump the command uses, both at least the server's version."""
    pg_dump, pg_restore = find_postgres_program("pg_dump"), find_postgres_program("pg_restore")
    with psycopg.connect(server_url) as conn:
        server = conn.info.server_version // 10000
    reason = None
    if pg_dump is None or pg_restore is None:
        reason = "pg_dump/pg_restore not found (apt-get install postgresql-client)"
    elif min(_version(pg_dump), _version(pg_restore)) < server:
        reason = f"pg_dump/pg_restore older than the PostgreSQL {server} server"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    assert pg_restore is not None
    return pg_restore


@contextlib.contextmanager
def write_transaction_held_open(database_url: str) -> Iterator[None]:
    """Another connection that has deleted every outbox message and not committed yet."""
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(sa.make_url(database_url).database, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DELETE FROM outbox_message")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
    else:
        with psycopg.connect(database_url) as conn:
            conn.execute("DELETE FROM outbox_message")
            try:
                yield
            finally:
                conn.rollback()


@contextlib.contextmanager
def restored(backup: Path, database_url: str, folder: Path) -> Iterator[sa.Engine]:
    """The backup restored into a fresh database, as the deploy guide says to do it."""
    if database_url.startswith("sqlite"):
        target = folder / "restored.sqlite"
        shutil.copyfile(backup, target)
        engine = sa.create_engine(f"sqlite:///{target}")
        yield engine
        engine.dispose()
        return
    pg_restore = postgres_tools_or_skip(database_url)
    name = f"feedback_restore_{uuid.uuid4().hex[:10]}"
    server = sa.make_url(database_url)
    admin = sa.create_engine(
        server.set(drivername="postgresql+psycopg", database="postgres"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    target = server.set(database=name)
    try:
        completed = subprocess.run(
            [pg_restore, "--no-owner", "--exit-on-error", "--dbname", libpq_url(target), backup],
            capture_output=True,
            text=True,
        )
        assert completed.returncode == 0, completed.stderr
        engine = sa.create_engine(target.set(drivername="postgresql+psycopg"))
        yield engine
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_backup_taken_during_an_open_write_restores_every_response_consent_and_email(
    runner, database_url, db_session, tmp_path
):
    if not database_url.startswith("sqlite"):
        postgres_tools_or_skip(database_url)
    fill(runner)
    db_session.commit()
    expected = ids_in(db_session.get_bind())
    assert all(expected.values()), expected  # something of each kind to lose
    path = tmp_path / "backups" / "feedback.backup"
    path.parent.mkdir()

    with write_transaction_held_open(database_url):
        result = runner.invoke(args=["feedback", "backup", str(path)])
    assert result.exit_code == 0, result.output
    assert f"Backed up the database to {path}" in result.output
    # Only the finished copy: no temporary file left beside it.
    assert [entry.name for entry in path.parent.iterdir()] == ["feedback.backup"]

    with restored(path, database_url, tmp_path) as engine:
        assert ids_in(engine) == expected


def test_backup_refuses_to_replace_a_file_unless_forced(runner, database_url, tmp_path):
    if not database_url.startswith("sqlite"):
        postgres_tools_or_skip(database_url)
    path = tmp_path / "feedback.backup"
    path.write_bytes(b"last night's backup")

    refused = runner.invoke(args=["feedback", "backup", str(path)])
    assert refused.exit_code == 1
    assert "exists already; give --force to replace it" in refused.output
    assert path.read_bytes() == b"last night's backup"

    forced = runner.invoke(args=["feedback", "backup", "--force", str(path)])
    assert forced.exit_code == 0, forced.output
    assert path.read_bytes() != b"last night's backup"


def test_backup_into_a_missing_folder_is_explained(runner, tmp_path):
    result = runner.invoke(args=["feedback", "backup", str(tmp_path / "nowhere" / "x.backup")])
    assert result.exit_code == 1
    assert "does not exist" in result.output


def test_printed_pg_dump_command_never_shows_the_password(tmp_path):
    url = sa.make_url("postgresql+psycopg://feedback:s3cret-pw@db.internal:5432/feedback")
    command = pg_dump_command(url, tmp_path / "feedback.dump")
    assert "s3cret-pw" not in command
    assert command == (
        f"pg_dump --format=custom --file {tmp_path / 'feedback.dump'} "
        "--dbname postgresql://feedback@db.internal:5432/feedback"
    )


def only_on_sqlite(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("restore puts an SQLite file in place; PostgreSQL restores with pg_restore")


def close_the_service_connections() -> None:
    db.session.remove()
    db.engine.dispose()


def test_restore_puts_the_backup_back_and_keeps_the_replaced_database(
    runner, database_url, db_session, tmp_path
):
    only_on_sqlite(database_url)
    fill(runner)
    db_session.commit()
    expected = ids_in(db_session.get_bind())
    backup = tmp_path / "feedback.backup"
    assert runner.invoke(args=["feedback", "backup", str(backup)]).exit_code == 0
    db_session.execute(sa.delete(OutboxMessage))  # lost after the backup
    db_session.commit()
    close_the_service_connections()

    result = runner.invoke(args=["feedback", "restore", "--yes", str(backup)])
    assert result.exit_code == 0, result.output
    assert "Restored" in result.output and "db upgrade" in result.output

    database = Path(sa.make_url(database_url).database)
    assert ids_in(db.engine) == expected
    (replaced,) = database.parent.glob(f"{database.name}.replaced-*")
    engine = sa.create_engine(f"sqlite:///{replaced}")
    assert ids_in(engine)["outbox_message"] == []
    engine.dispose()


def test_restore_refuses_while_the_database_is_open(runner, database_url, db_session, tmp_path):
    only_on_sqlite(database_url)
    backup = tmp_path / "feedback.backup"
    assert runner.invoke(args=["feedback", "backup", str(backup)]).exit_code == 0
    db_session.execute(sa.select(1))  # the service is running: its connection holds the WAL

    result = runner.invoke(args=["feedback", "restore", "--yes", str(backup)])
    assert result.exit_code == 1
    assert "stop the web and worker services first" in result.output


def test_restore_refuses_a_file_that_is_not_a_backup_of_ours(runner, database_url, tmp_path):
    only_on_sqlite(database_url)
    close_the_service_connections()
    text = tmp_path / "notes.txt"
    text.write_text("not a database, but long enough to look like one? " * 200)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    database = Path(sa.make_url(database_url).database)
    before = database.read_bytes()

    for path in (text, other):
        result = runner.invoke(args=["feedback", "restore", "--yes", str(path)])
        assert result.exit_code == 1
        assert "not a backup of this service" in result.output
    assert database.read_bytes() == before


def test_restore_on_postgresql_prints_the_pg_restore_command(runner, database_url, tmp_path):
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only")
    backup = tmp_path / "feedback.backup"
    backup.write_bytes(b"a dump")
    result = runner.invoke(args=["feedback", "restore", "--yes", str(backup)])
    assert result.exit_code == 1
    assert "pg_restore --clean --if-exists --no-owner --dbname postgresql://" in result.output


def test_backup_into_a_folder_it_may_not_write_is_explained(runner, database_url, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.geteuid() == 0:  # root may write anywhere, except in /proc
        locked = Path("/proc/self")
    result = runner.invoke(args=["feedback", "backup", str(locked / "x.backup")])
    assert result.exit_code == 1
    assert "Could not write the backup" in result.output
