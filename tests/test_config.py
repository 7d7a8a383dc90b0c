from __future__ import annotations

import pytest

from feedback import access, create_app
from feedback.config import DEV_SECRET_KEY, Config, ConfigError


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    config = Config.from_env({"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite"})
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app(config)


def test_production_refuses_the_development_secret_key():
    config = Config.from_env({"SECRET_KEY": DEV_SECRET_KEY})
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        config.to_flask("/tmp/instance")


def test_development_runs_without_a_secret_key():
    settings = Config.from_env({"FEEDBACK_ENV": "development"}).to_flask("/tmp/instance")
    assert settings["SECRET_KEY"] == DEV_SECRET_KEY


def test_database_defaults_to_a_sqlite_file_under_instance():
    settings = Config.from_env({"SECRET_KEY": "s" * 40}).to_flask("/srv/app/instance")
    assert settings["SQLALCHEMY_DATABASE_URI"] == "sqlite:////srv/app/instance/feedback.sqlite"


@pytest.mark.parametrize("url", ["postgres://u@h/db", "postgresql://u@h/db"])
def test_postgres_urls_use_psycopg_3(url):
    settings = Config.from_env({"SECRET_KEY": "s" * 40, "DATABASE_URL": url}).to_flask("/i")
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"


def test_unknown_environment_name_is_refused():
    with pytest.raises(ConfigError, match="FEEDBACK_ENV"):
        Config.from_env({"FEEDBACK_ENV": "staging"})


def test_https_base_url_makes_cookies_secure():
    config = Config.from_env({"SECRET_KEY": "s" * 40, "BASE_URL": "https://fb.example.com/"})
    settings = config.to_flask("/i")
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["BASE_URL"] == "https://fb.example.com"


def test_behind_a_proxy_the_client_address_comes_from_x_forwarded_for(tmp_path, make_app):
    config = Config.from_env(
        {
            "FEEDBACK_ENV": "development",
            "PROXY_COUNT": "1",
            "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite",
        }
    )
    app = make_app(config)

    @app.get("/_whoami")
    @access.public
    def whoami() -> str:
        from flask import request

        return f"{request.remote_addr} {request.scheme}"

    page = app.test_client().get(
        "/_whoami", headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    )
    assert page.text == "203.0.113.9 https"


def test_a_non_numeric_proxy_count_is_refused():
    with pytest.raises(ConfigError, match="PROXY_COUNT"):
        Config.from_env({"PROXY_COUNT": "two"})


def test_the_outbox_lease_defaults_to_five_minutes_and_can_be_shortened():
    assert Config.from_env({}).OUTBOX_LEASE_SECONDS == 300
    settings = Config.from_env({"SECRET_KEY": "s" * 40, "OUTBOX_LEASE_SECONDS": "15"})
    assert settings.to_flask("/tmp/instance")["OUTBOX_LEASE_SECONDS"] == 15


def test_an_outbox_lease_too_short_to_send_a_batch_is_refused():
    with pytest.raises(ConfigError, match="OUTBOX_LEASE_SECONDS must be at least 5"):
        Config.from_env({"OUTBOX_LEASE_SECONDS": "1"})
