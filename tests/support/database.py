"""The test database: where PostgreSQL runs, and the schema built by the migrations."""

from __future__ import annotations

import os

from flask_migrate import upgrade

from feedback import create_app
from feedback.config import config_for_tests
from feedback.extensions import db

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "").strip()


def migrate_to_head(url: str) -> None:
    """Build the schema from empty with the project's migrations."""
    app = create_app(config_for_tests(url))
    with app.app_context():
        upgrade()
        db.engine.dispose()
