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
from feedback.insights import search
from tests.support.database import POSTGRES_URL


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
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_name": search.include_name,
                "include_object": search.include_object,
            },
        )
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


def test_outbox_rows_from_before_lose_their_links_and_say_how_a_retry_remakes_them(
    empty_database_url,
):
    """Sent (and given-up) emails of earlier releases kept their raw links in clear."""
    app = create_app(config_for_tests(empty_database_url))
    with app.app_context():
        upgrade(revision="9e3893c3518c")
        insert = sa.text(
            "INSERT INTO workspace (name, slug, timezone, throttle_days, contact_cap_days, "
            "reminder_days, follow_up_sla_hours, invitation_ttl_days, brand_colour, "
            "has_webhooks, consent_text, consent_version, created_at) VALUES ('W', 'w', "
            "'UTC', 30, 3, 3, 24, 30, '#2f6f4f', false, 'ok', 1, CURRENT_TIMESTAMP)"
        )
        link = "https://fb.example/s/RAW-SURVEY-TOKEN"
        body = {"text": link, "html": f"<a href='{link}'>", "headers": {"List-Unsubscribe": link}}

        def email(dedupe_key, status, **payload):
            return {
                "kind": "email",
                "status": status,
                "dedupe_key": dedupe_key,
                "payload": {"to": "c@example.com", "subject": "S", "meta": {}, **payload},
            }

        rows = {
            "sent": email("invitation:1", "sent", **body),
            "sealed": email("invitation:2", "sent", sealed="gAAAA-ciphertext"),
            "failed": email("invitation:3", "failed", **body),
            "failed reminder": email("reminder:3", "failed", **body),
            "failed password": email(None, "failed", **body),
            "failed digest": email("follow-up-digest:1:x", "failed", text="queue"),
            "pending consent": email("consent-confirmation:5", "pending", **body),
            "webhook": {
                "kind": "webhook",
                "status": "sent",
                "dedupe_key": None,
                "payload": {"endpoint_id": 1, "body": {"comment": "personal"}},
            },
        }
        outbox = sa.table(
            "outbox_message",
            *(sa.column(c) for c in ("workspace_id", "kind", "status", "dedupe_key")),
            sa.column("payload", sa.JSON),
            *(sa.column(c) for c in ("attempts", "next_attempt_at", "created_at")),
        )
        with db.engine.begin() as conn:
            conn.execute(insert)
            workspace_id = conn.scalar(sa.text("SELECT id FROM workspace"))
            for row in rows.values():
                conn.execute(
                    outbox.insert().values(
                        workspace_id=workspace_id,
                        attempts=1,
                        next_attempt_at=sa.func.current_timestamp(),
                        created_at=sa.func.current_timestamp(),
                        **row,
                    )
                )
        upgrade()
        with db.engine.connect() as conn:
            # Every row but the one still waiting to go out (it needs its link).
            stored = conn.execute(
                sa.text(
                    "SELECT CAST(payload AS TEXT) FROM outbox_message WHERE status <> 'pending'"
                )
            )
            as_text = "\n".join(value for (value,) in stored)
            payloads = {
                name: payload
                for name, (payload,) in zip(
                    rows,
                    conn.execute(
                        sa.select(sa.column("payload", sa.JSON))
                        .select_from(sa.table("outbox_message"))
                        .order_by(sa.text("id"))
                    ),
                    strict=True,
                )
            }
        db.engine.dispose()
    assert "RAW-SURVEY-TOKEN" not in as_text
    assert "RAW-SURVEY-TOKEN" in payloads["pending consent"]["text"]
    assert "ciphertext" not in as_text and "personal" not in as_text
    assert payloads["sent"] == {"to": "c@example.com", "subject": "S", "meta": {}}
    assert payloads["failed"]["remake"] == {"email": "invitation", "invitation_id": 3}
    assert payloads["failed reminder"]["remake"] == {"email": "reminder", "invitation_id": 3}
    assert "remake" not in payloads["failed password"] and "text" not in payloads["failed password"]
    assert (
        payloads["failed digest"]["text"] == "queue" and payloads["failed digest"]["links"] is False
    )
    assert payloads["pending consent"]["remake"] == {
        "email": "consent-confirmation",
        "testimonial_id": 5,
    }
    assert payloads["pending consent"]["links"] is True and payloads["webhook"] == {
        "endpoint_id": 1
    }
