from __future__ import annotations

import os

import pytest

from feedback.config import config_for_tests
from tests.factories import PASSWORD, make_owner
from tests.pages import csrf_token_from


@pytest.mark.parametrize("path", ["/dashboard", "/responses"])
def test_owner_pages_send_anonymous_visitors_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_owner_logs_in_and_reaches_the_dashboard(client, db_session, auth):
    user, _ = make_owner(db_session, "Acme Plants")
    auth.login(user.email, PASSWORD)
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert "Acme Plants" in page.text


def test_wrong_password_re_renders_the_form_with_a_message(client, db_session):
    user, _ = make_owner(db_session)
    token = csrf_token_from(client.get("/login"))
    page = client.post(
        "/login", data={"email": user.email, "password": "nope", "csrf_token": token}
    )
    assert page.status_code == 422
    assert "do not match an account" in page.text
    assert f'value="{user.email}"' in page.text


def test_login_without_csrf_token_is_refused(client, db_session):
    user, _ = make_owner(db_session)
    page = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert page.status_code == 400
    assert client.get("/dashboard").status_code == 302


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example"])
def test_login_never_redirects_off_site(client, db_session, target):
    user, _ = make_owner(db_session)
    token = csrf_token_from(client.get("/login"))
    page = client.post(
        f"/login?next={target}",
        data={"email": user.email, "password": PASSWORD, "csrf_token": token},
    )
    assert page.status_code == 302
    assert page.headers["Location"] == "/dashboard"


def test_login_follows_a_same_site_next_path(client, db_session):
    user, _ = make_owner(db_session)
    token = csrf_token_from(client.get("/login"))
    page = client.post(
        "/login?next=/responses",
        data={"email": user.email, "password": PASSWORD, "csrf_token": token},
    )
    assert page.headers["Location"] == "/responses"


def test_logout_needs_a_post_with_csrf(client, db_session, auth):
    user, _ = make_owner(db_session)
    auth.login(user.email, PASSWORD)
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    auth.logout()
    assert client.get("/dashboard").status_code == 302


def test_repeated_failed_logins_are_rate_limited(client, db_session):
    user, _ = make_owner(db_session)
    token = csrf_token_from(client.get("/login"))
    statuses = [
        client.post(
            "/login", data={"email": user.email, "password": "guess", "csrf_token": token}
        ).status_code
        for _ in range(11)
    ]
    assert statuses[:10] == [422] * 10
    assert statuses[10] == 429


@pytest.mark.skipif(
    not os.environ.get("TEST_REDIS_URL"),
    reason="TEST_REDIS_URL is not set (make test sets it when Redis answers)",
)
def test_login_limits_are_shared_by_every_worker_through_redis(database_url, db_session, make_app):
    """Two app instances stand for two gunicorn workers (or machines) behind one proxy."""
    import redis

    redis_url = os.environ["TEST_REDIS_URL"]
    redis.Redis.from_url(redis_url).flushdb()
    user, _ = make_owner(db_session)
    config = config_for_tests(database_url)
    config.RATELIMIT_STORAGE_URI = redis_url
    workers = [make_app(config).test_client() for _ in range(2)]
    statuses = []
    for attempt in range(11):
        client = workers[attempt % 2]
        token = csrf_token_from(client.get("/login"))
        statuses.append(
            client.post(
                "/login", data={"email": user.email, "password": "guess", "csrf_token": token}
            ).status_code
        )
    assert statuses == [422] * 10 + [429]
