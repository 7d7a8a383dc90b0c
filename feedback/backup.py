"""Backups of the database while the service runs (`flask feedback backup PATH`).

SQLite: Python's `sqlite3` online backup API copies the pages of one read
snapshot, so writers go on meanwhile and a transaction still open elsewhere is
left out as a whole. PostgreSQL: `pg_dump --format=custom`, which also reads
one snapshot; where no `pg_dump` is installed, the command to run is returned
instead. Either way the copy is written to a temporary file beside PATH and
only then given PATH's name, so a failed or interrupted backup never leaves a
half-written file that looks like a backup.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import glob
import os
import shlex
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

# A busy writer holds SQLite's lock for milliseconds; wait for it rather than fail.
SQLITE_BUSY_TIMEOUT_SECONDS = 15


class BackupError(RuntimeError):
    """The backup could not be made; the message says why (never with a password)."""


@dataclass(frozen=True)
class BackupResult:
    """What `backup_database` did: wrote `path`, or (no pg_dump here) left `command` to run."""

    path: Path
    written: bool
    command: str | None = None


def backup_database(
    database_url: str, destination: Path, *, force: bool = False, pg_dump: str | None = None
) -> BackupResult:
    """Copy the database at `database_url` to `destination`, consistently, while it is in use.

    Refuses to replace an existing file unless `force`. On PostgreSQL `pg_dump`
    names the program (default: found on PATH or in /usr/lib/postgresql/*/bin);
    when there is none, nothing is written and the result holds the command.
    """
    url = sa.make_url(database_url)
    destination = Path(destination)
    if destination.is_dir():
        raise BackupError(f"{destination} is a folder; give the backup file's name.")
    if destination.exists() and not force:
        raise BackupError(f"{destination} exists already; give --force to replace it.")
    if not destination.parent.is_dir():
        raise BackupError(f"The folder {destination.parent} does not exist.")
    if url.get_backend_name() == "sqlite":
        _backup_sqlite(url, destination, force=force)
        return BackupResult(destination, written=True)
    if url.get_backend_name() == "postgresql":
        program = pg_dump or find_postgres_program("pg_dump")
        if program is None:
            return BackupResult(
                destination, written=False, command=pg_dump_command(url, destination)
            )
        _backup_postgres(program, url, destination, force=force)
        return BackupResult(destination, written=True)
    raise BackupError(f"Backups of {url.get_backend_name()} databases are not supported.")


def find_postgres_program(name: str) -> str | None:
    """`name` (pg_dump, pg_restore) on PATH, else the newest in /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    # Debian and Ubuntu keep the versioned binaries here, off PATH.
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda path: int(path.split("/")[4]) if path.split("/")[4].isdigit() else 0,
    )
    return candidates[-1] if candidates else None


def libpq_url(url: sa.URL) -> str:
    """The database's address as libpq (pg_dump, psql) reads it, without the password."""
    # (`URL.set(password=None)` would keep the password: `set` ignores None.)
    bare = sa.URL.create(
        "postgresql",
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    )
    return bare.render_as_string(hide_password=False)


def pg_dump_command(url: sa.URL, destination: Path) -> str:
    """The pg_dump command line to run by hand (the password goes in PGPASSWORD or ~/.pgpass)."""
    return shlex.join(
        ["pg_dump", "--format=custom", "--file", str(destination), "--dbname", libpq_url(url)]
    )


def _temporary_beside(destination: Path) -> Path:
    handle, name = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=".partial", dir=destination.parent
    )
    os.close(handle)
    return Path(name)


def _move_into_place(temporary: Path, destination: Path, *, force: bool) -> None:
    """Give the finished copy its name, atomically; without `force` never over another file."""
    if force:
        os.replace(temporary, destination)
        return
    try:
        # A hard link fails if the name was taken meanwhile, where a rename would replace it.
        os.link(temporary, destination)
    except FileExistsError as error:
        raise BackupError(f"{destination} exists already; give --force to replace it.") from error
    finally:
        temporary.unlink(missing_ok=True)


def _backup_sqlite(url: sa.URL, destination: Path, *, force: bool) -> None:
    source_path = url.database
    if not source_path or source_path == ":memory:" or source_path.startswith("file:"):
        raise BackupError("Only an SQLite database in a file can be backed up.")
    if not Path(source_path).is_file():
        raise BackupError(f"There is no database file at {source_path}.")
    if Path(source_path).resolve() == destination.resolve():
        raise BackupError("The backup cannot replace the database itself.")
    temporary = _temporary_beside(destination)
    try:
        source = sqlite3.connect(source_path, timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
        try:
            copy = sqlite3.connect(temporary)
            try:
                # pages=-1 (the default): one step under one read snapshot, so
                # nothing committed meanwhile can make the copy a mix of two states.
                source.backup(copy)
                verdict = copy.execute("PRAGMA quick_check").fetchone()[0]
                if verdict != "ok":
                    raise BackupError(f"The copy failed SQLite's quick_check: {verdict}")
                # One self-contained file: fold the copy's write-ahead log into it.
                copy.execute("PRAGMA journal_mode=DELETE")
            finally:
                copy.close()
        finally:
            source.close()
        _fsync(temporary)
        _move_into_place(temporary, destination, force=force)
        _fsync_folder(destination.parent)
    except sqlite3.Error as error:
        raise BackupError(f"SQLite could not make the copy: {error}") from error
    finally:
        temporary.unlink(missing_ok=True)


def _backup_postgres(program: str, url: sa.URL, destination: Path, *, force: bool) -> None:
    environment = dict(os.environ)
    if url.password is not None:
        # Through the environment, never the command line, which `ps` shows to everyone.
        environment["PGPASSWORD"] = str(url.password)
    temporary = _temporary_beside(destination)
    try:
        completed = subprocess.run(
            [program, "--format=custom", "--file", str(temporary), "--dbname", libpq_url(url)],
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            raise BackupError(f"pg_dump failed: {completed.stderr.strip()}")
        _fsync(temporary)
        _move_into_place(temporary, destination, force=force)
        _fsync_folder(destination.parent)
    finally:
        temporary.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    with open(path, "rb") as file:
        os.fsync(file.fileno())


def _fsync_folder(path: Path) -> None:
    """Make the new name itself survive a power cut (some file systems refuse; that is fine)."""
    with contextlib.suppress(OSError):
        folder = os.open(path, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


@dataclass(frozen=True)
class RestoreResult:
    """What `restore_sqlite` did: the database now holds the backup; the old one was kept."""

    database: Path
    replaced_kept_as: Path | None
    revision: str


def restore_sqlite(database_url: str, backup: Path, *, now: dt.datetime) -> RestoreResult:
    """Put an SQLite backup in place of the database, keeping the current one beside it.

    For a stopped service only: it refuses while the database's write-ahead log
    exists (some process has it open, or one crashed and its last commits are
    still in the log: start and stop the service once to fold them in). The
    backup must be an intact database of this service (it has Alembic's
    revision table); run `flask db upgrade` afterwards if it is older.
    """
    url = sa.make_url(database_url)
    if url.get_backend_name() == "postgresql":
        raise BackupError(
            "On PostgreSQL restore with pg_restore (the service stopped): "
            + shlex.join(
                ["pg_restore", "--clean", "--if-exists", "--no-owner", "--dbname", libpq_url(url)]
            )
            + f" {shlex.quote(str(backup))}"
        )
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise BackupError("Only an SQLite database in a file can be restored this way.")
    database = Path(url.database)
    backup = Path(backup)
    if not backup.is_file():
        raise BackupError(f"There is no backup file at {backup}.")
    if database.exists() and backup.resolve() == database.resolve():
        raise BackupError("The backup is the database itself.")
    for suffix in ("-wal", "-shm"):
        if Path(f"{database}{suffix}").exists():
            raise BackupError(
                f"{database}{suffix} exists: the database is open (stop the web and worker "
                "services first), or a process using it crashed (start and stop the service "
                "once, then restore)."
            )
    revision = backup_revision(backup)
    temporary = _temporary_beside(database)
    try:
        shutil.copyfile(backup, temporary)
        _fsync(temporary)
        kept = None
        if database.exists():
            kept = database.with_name(f"{database.name}.replaced-{now:%Y%m%dT%H%M%S}")
            os.link(database, kept)
        os.replace(temporary, database)
        _fsync_folder(database.parent)
    finally:
        temporary.unlink(missing_ok=True)
    return RestoreResult(database, kept, revision)


def backup_revision(backup: Path) -> str:
    """The schema revision of an SQLite backup, after checking it is intact and ours."""
    try:
        # Read-only and immutable: opening the backup must not change it (no -wal beside it).
        conn = sqlite3.connect(f"{backup.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
        try:
            verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise BackupError(f"{backup} is damaged (SQLite's quick_check: {verdict}).")
            rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as error:
        raise BackupError(
            f"{backup} is not a backup of this service's database: {error}"
        ) from error
    if len(rows) != 1:
        raise BackupError(f"{backup} has no single schema revision; it is not a backup of ours.")
    return str(rows[0][0])
