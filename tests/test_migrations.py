"""The migrations build the schema from empty, match the models, and go down again."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from feedback import create_app
from feedback.config import config_for_tests
from feedback.extensions import db
from tests.conftest import POSTGRES_URL


@pytest.fixture
def empty_database_url(tmp_path):
    if not POSTGRES_URL:
        yield f"sqlite:///{tmp_path / 'empty.sqlite'}"
        return
    name = f"feedback_migrate_{uuid.uuid4().hex[:10]}"
    admin_url = sa.make_url(POSTGRES_URL).set(database="postgres")
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def schema_differences(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def test_migrations_build_the_models_schema_from_empty_and_back(empty_database_url):
    app = create_app(config_for_tests(empty_database_url))
    with app.app_context():
        upgrade()
        assert schema_differences(db.engine) == []
        runner = app.test_cli_runner()
        check = runner.invoke(args=["db", "check"])
        assert check.exit_code == 0, check.output
        downgrade(revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert schema_differences(db.engine) == []
        db.engine.dispose()


OLD_DEFAULT = (
    "I agree that {business} may publish my comment and the name I give above as a "
    "testimonial on its website and marketing material. I can withdraw this at any time."
)


def test_workspaces_on_the_first_default_consent_text_move_to_the_new_one_as_version_2(
    empty_database_url,
):
    from feedback.accounts.models import DEFAULT_CONSENT_TEXT

    app = create_app(config_for_tests(empty_database_url))
    with app.app_context():
        upgrade(revision="88461b180c99")
        insert = sa.text(
            "INSERT INTO workspace (name, slug, timezone, throttle_days, contact_cap_days, "
            "reminder_days, follow_up_sla_hours, invitation_ttl_days, brand_colour, "
            "has_webhooks, consent_text, consent_version, created_at) VALUES (:name, :slug, "
            "'UTC', 30, 3, 3, 24, 30, '#2f6f4f', false, :text, :version, CURRENT_TIMESTAMP)"
        )
        with db.engine.begin() as conn:
            conn.execute(
                insert,
                {
                    "name": "On Default",
                    "slug": "on-default",
                    "version": 1,
                    "text": OLD_DEFAULT.format(business="On Default"),
                },
            )
            conn.execute(
                insert,
                {"name": "Own Words", "slug": "own-words", "version": 3, "text": "My own text."},
            )
        upgrade()
        with db.engine.connect() as conn:
            rows = dict(
                (slug, (text, version))
                for slug, text, version in conn.execute(
                    sa.text("SELECT slug, consent_text, consent_version FROM workspace")
                )
            )
        assert rows == {
            "on-default": (DEFAULT_CONSENT_TEXT.format(business="On Default"), 2),
            "own-words": ("My own text.", 3),
        }
        downgrade(revision="88461b180c99")
        with db.engine.connect() as conn:
            back = conn.execute(
                sa.text(
                    "SELECT consent_text, consent_version FROM workspace WHERE slug = 'on-default'"
                )
            ).one()
        assert tuple(back) == (OLD_DEFAULT.format(business="On Default"), 1)
        db.engine.dispose()
