"""Journey feedback and testimonial service."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask, request
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix

from feedback import access, inputs, observe, transactions
from feedback.config import Config
from feedback.extensions import csrf, db, limiter, login_manager, migrate

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Config | None = None) -> Flask:
    """Build the application; reads the environment unless a `Config` is given."""
    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
        instance_path=os.environ.get("FEEDBACK_INSTANCE_PATH") or str(PROJECT_ROOT / "instance"),
    )
    settings = (config or Config.from_env()).to_flask(app.instance_path)
    app.config.update(settings)
    if settings["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        os.makedirs(app.instance_path, exist_ok=True)

    # First: its clock starts before any other hook, its log line is written after all.
    observe.register(app)
    # Before any route is added: the rules take the `int` converter from here.
    inputs.register(app)
    db.init_app(app)
    # Before CSRFProtect's hook, which is the first to read the body.
    app.before_request(_allow_large_uploads)
    # Who may open a page is decided before anything reads the form or counts a limit.
    access.register(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), compare_type=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            event.listen(db.engine, "connect", _tune_sqlite)
            event.listen(db.engine, "savepoint", _savepoint_inside_a_transaction)

    from feedback import errors, models, web  # noqa: F401  (models: complete metadata)
    from feedback.accounts.auth import load_user
    from feedback.accounts.views import bp as accounts_bp
    from feedback.api.views import bp as api_bp
    from feedback.cli import feedback_cli
    from feedback.delivery.views import bp as delivery_bp
    from feedback.followups.views import bp as followups_bp
    from feedback.health import bp as health_bp
    from feedback.insights.views import bp as insights_bp
    from feedback.journey.views import bp as journey_bp
    from feedback.surveys.views import bp as surveys_bp
    from feedback.testimonials.consent_views import bp as consent_bp
    from feedback.testimonials.public_views import bp as public_testimonials_bp
    from feedback.testimonials.views import bp as testimonials_bp

    login_manager.user_loader(load_user)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(surveys_bp)
    app.register_blueprint(insights_bp)
    app.register_blueprint(journey_bp)
    app.register_blueprint(delivery_bp)
    app.register_blueprint(followups_bp)
    app.register_blueprint(testimonials_bp)
    app.register_blueprint(public_testimonials_bp)
    app.register_blueprint(consent_bp)
    app.register_blueprint(health_bp)
    # API clients authenticate with a key in a header, not a cookie: nothing to forge.
    csrf.exempt(api_bp)
    app.register_blueprint(api_bp)
    errors.register(app)
    web.register(app)
    app.cli.add_command(feedback_cli)
    # Fail closed: a route that does not say who may open it stops the app from starting.
    access.check_every_route_declares_access(app)
    # Last: the request's transaction ends before any other after_request hook runs.
    transactions.register(app)
    if app.config["PROXY_COUNT"]:
        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=count, x_proto=count, x_host=count, x_port=count
        )
    return app


# Endpoints that take file uploads get more than the 64 KB every form gets.
UPLOAD_LIMITS = {
    "surveys.import_touchpoints": 5 * 1024 * 1024,
    # 1,000 events of a few hundred bytes each, with room to spare.
    "api.record_touchpoints": 4 * 1024 * 1024,
}


def _allow_large_uploads() -> None:
    limit = UPLOAD_LIMITS.get(request.endpoint or "")
    if limit is not None:
        request.max_content_length = limit


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; NORMAL is durable in WAL mode
    # except for the last commits on power loss; SQLite leaves foreign keys off
    # unless asked.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _savepoint_inside_a_transaction(connection: Any, _name: str) -> None:
    # pysqlite sends BEGIN by itself only before an INSERT/UPDATE/DELETE. A
    # SAVEPOINT sent first (as `record_touchpoints` does) opened a transaction
    # of its own in SQLite, and its RELEASE committed it: each import batch
    # committed on its own, and a rollback of the whole no longer undid it. So
    # BEGIN is sent here first, as SQLAlchemy's pysqlite recipe does: the
    # SAVEPOINT then nests in the session's transaction as on PostgreSQL.
    #
    # Not the notes' full recipe (driver BEGIN off, BEGIN at every SQLAlchemy
    # begin): that also puts every read in a transaction, and a SQLite
    # transaction that read before writing fails at once ("database is
    # locked", no waiting) when another connection wrote in between. Reads come
    # first in nearly every request (the login, the workspace), so two
    # concurrent submits, two workers, or a test's session writing after a
    # request failed that way: 30 tests of tests/surveys, api, insights and
    # delivery. Reads stay outside transactions here, as before.
    dbapi_connection = connection.connection.dbapi_connection
    if not dbapi_connection.in_transaction:
        dbapi_connection.execute("BEGIN")
