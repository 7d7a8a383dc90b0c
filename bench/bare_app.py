"""The floor for `bench/submit.py`: a bare Flask endpoint that inserts one row.

No project code, only Flask and SQLAlchemy Core. `POST /insert` stores the posted
`comment` in a `bench_note` table (id, text, created_at) with one commit, and
answers 303 like the survey form does; `GET /` answers 200 so the benchmark can
tell the server is up.

The database comes from `BARE_DATABASE_URL` and is set up the way the service
sets up its own: SQLite with WAL, `synchronous=NORMAL`, foreign keys on and a
15 s busy timeout; PostgreSQL through psycopg 3 with `pool_pre_ping`. gunicorn
imports the app in each worker (no `--preload`), so every worker has its own
connection pool. The benchmark creates the table (`create_schema`) before it
starts the server:

    BARE_DATABASE_URL=sqlite:////tmp/bare.sqlite \\
        .venv/bin/gunicorn --workers 2 'bench.bare_app:create_app()'
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from flask import Flask, redirect, request
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    Table,
    Text,
    create_engine,
    event,
    func,
    select,
)
from werkzeug.wrappers import Response

metadata = MetaData()
note = Table(
    "bench_note",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("text", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


def engine_for(url: str) -> Engine:
    """An engine with the same driver and connection settings as the service's."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 15})
        event.listen(engine, "connect", _tune_sqlite)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_schema(url: str) -> None:
    """Create the `bench_note` table (and switch a SQLite file to WAL)."""
    engine = engine_for(url)
    metadata.create_all(engine)
    engine.dispose()


def count_notes(url: str) -> int:
    """How many rows the endpoint has inserted."""
    engine = engine_for(url)
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(note)).scalar_one()
    engine.dispose()
    return int(count)


def create_app(database_url: str | None = None) -> Flask:
    """The bare app; the database defaults to `BARE_DATABASE_URL`."""
    url = database_url or os.environ["BARE_DATABASE_URL"]
    engine = engine_for(url)
    sqlite = url.startswith("sqlite")
    app = Flask(__name__)

    @app.get("/")
    def index() -> str:
        return "ok"

    @app.post("/insert")
    def insert() -> Response:
        now = dt.datetime.now(dt.UTC)
        with engine.begin() as conn:  # one transaction, committed here
            conn.execute(
                note.insert().values(
                    text=request.form.get("comment", ""),
                    created_at=now.replace(tzinfo=None) if sqlite else now,
                )
            )
        return redirect("/thanks", code=303)

    return app
