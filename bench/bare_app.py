"""The floors for `bench/submit.py`: bare Flask endpoints that insert one row.

No project code, only Flask, Flask-WTF and SQLAlchemy Core. `POST /insert` stores
the posted `comment` in a `bench_note` table (id, text, created_at) with one
commit, and answers 303 like the survey form does; `GET /` answers 200 so the
benchmark can tell the server is up.

The "form floor", `create_form_app()`, is a second app with its own gunicorn,
so the bare floor carries none of its hooks. `GET /form` renders a tiny HTML
form from a Flask-WTF `FlaskForm` (`rating`, an integer 1-5, required;
`comment`, optional, at most 2000 characters) with its CSRF token, which sets
the session cookie like the survey form does. `POST /form` checks the CSRF token
(Flask-WTF's `CSRFProtect` on the app, as in the service), validates the form,
stores one row in `bench_form_note` with one commit and answers 303; an invalid
form gets 422 with the errors. The secret key comes from `BARE_SECRET_KEY`.

The database comes from `BARE_DATABASE_URL` and is set up the way the service
sets up its own: SQLite with WAL, `synchronous=NORMAL`, foreign keys on and a
15 s busy timeout; PostgreSQL through psycopg 3 with `pool_pre_ping`. gunicorn
imports the app in each worker (no `--preload`), so every worker has its own
connection pool. The benchmark creates the tables (`create_schema`) before it
starts the servers:

    BARE_DATABASE_URL=sqlite:////tmp/bare.sqlite \\
        .venv/bin/gunicorn --workers 2 'bench.bare_app:create_app()'
    BARE_DATABASE_URL=sqlite:////tmp/bare.sqlite BARE_SECRET_KEY=... \\
        .venv/bin/gunicorn --workers 2 'bench.bare_app:create_form_app()'
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from flask import Flask, redirect, request
from flask_wtf import CSRFProtect, FlaskForm
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
from wtforms import IntegerField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

metadata = MetaData()
note = Table(
    "bench_note",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("text", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
form_note = Table(
    "bench_form_note",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("rating", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

FORM_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Bench form</title></head>
<body>
<form method="post" action="/form">
  {{ form.csrf_token }}
  {% for error in form.errors.values() | sum(start=[]) %}
    <p class="error">{{ error }}</p>
  {% endfor %}
  <label>{{ form.rating.label }} {{ form.rating(min=1, max=5) }}</label>
  <label>{{ form.comment.label }} {{ form.comment() }}</label>
  <button type="submit">Send</button>
</form>
</body></html>
"""


class NoteForm(FlaskForm):
    """A rating and an optional comment, with Flask-WTF's CSRF token."""

    rating = IntegerField("Rating", validators=[InputRequired(), NumberRange(min=1, max=5)])
    comment = TextAreaField("Comment", validators=[Optional(), Length(max=2000)])


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
    """Create the `bench_note` and `bench_form_note` tables (and switch SQLite to WAL)."""
    engine = engine_for(url)
    metadata.create_all(engine)
    engine.dispose()


def count_notes(url: str) -> int:
    """How many rows `POST /insert` has inserted."""
    return _count(url, note)


def count_form_notes(url: str) -> int:
    """How many rows `POST /form` has inserted."""
    return _count(url, form_note)


def _count(url: str, table: Table) -> int:
    engine = engine_for(url)
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(table)).scalar_one()
    engine.dispose()
    return int(count)


def create_app(database_url: str | None = None) -> Flask:
    """The bare floor; the database defaults to `BARE_DATABASE_URL`. No session, no CSRF."""
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


def create_form_app(database_url: str | None = None, secret_key: str | None = None) -> Flask:
    """The form floor, an app of its own so the bare floor carries none of its hooks.

    The database defaults to `BARE_DATABASE_URL`, the secret key to `BARE_SECRET_KEY`.
    """
    url = database_url or os.environ["BARE_DATABASE_URL"]
    engine = engine_for(url)
    sqlite = url.startswith("sqlite")
    app = Flask(__name__)
    app.config["SECRET_KEY"] = secret_key or os.environ["BARE_SECRET_KEY"]
    CSRFProtect(app)  # like the service: every POST is checked
    page = app.jinja_env.from_string(FORM_PAGE)

    @app.get("/")
    def index() -> str:
        return "ok"

    @app.get("/form")
    def show_form() -> str:
        return page.render(form=NoteForm())

    @app.post("/form")
    def post_form() -> Response | tuple[str, int]:
        form = NoteForm()
        if not form.validate():
            return page.render(form=form), 422
        now = dt.datetime.now(dt.UTC)
        with engine.begin() as conn:  # one transaction, committed here
            conn.execute(
                form_note.insert().values(
                    rating=form.rating.data,
                    text=form.comment.data or "",
                    created_at=now.replace(tzinfo=None) if sqlite else now,
                )
            )
        return redirect("/thanks", code=303)

    return app
