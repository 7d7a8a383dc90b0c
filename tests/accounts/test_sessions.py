"""Sessions live on the server: logging out ends them wherever their cookies were copied
(issue 13, item 9), "log out everywhere" ends all of them, idle ones expire."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from feedback.accounts import services
from feedback.accounts.auth import load_user
from feedback.accounts.models import UserSession
from feedback.db import utcnow
from feedback.delivery.models import OutboxMessage
from tests.factories import NOW, PASSWORD, make_owner
from tests.pages import csrf_token_from

NEW_PASSWORD = "a much better passphrase"


def log_in(client: FlaskClient, email: str, *, remember: bool = False) -> None:
    data = {
        "email": email,
        "password": PASSWORD,
        "csrf_token": csrf_token_from(client.get("/login")),
    }
    if remember:
        data["remember"] = "y"
    assert client.post("/login", data=data).status_code == 302


def copy_of(app: Flask, client: FlaskClient, *names: str) -> FlaskClient:
    """Another browser holding a copy of some of this one's cookies."""
    other = app.test_client()
    for name in names:
        cookie = client.get_cookie(name)
        assert cookie is not None, name
        other.set_cookie(name, cookie.value)
    return other


def logged_in(client: FlaskClient) -> bool:
    page = client.get("/dashboard")
    assert page.status_code in (200, 302)
    return page.status_code == 200


def log_out(client: FlaskClient) -> None:
    page = client.get("/dashboard")
    assert client.post("/logout", data={"csrf_token": csrf_token_from(page)}).status_code == 302


def test_a_copied_session_cookie_stops_working_after_logout(app, client, db_session):
    user, _ = make_owner(db_session)
    log_in(client, user.email)
    stolen = copy_of(app, client, "session")
    assert logged_in(stolen)
    log_out(client)
    assert not logged_in(client)
    refused = stolen.get("/dashboard")
    assert refused.status_code == 302 and refused.headers["Location"].startswith("/login")
    assert stolen.get("/settings/api-keys").status_code == 302
    db_session.expire_all()
    assert db_session.scalar(select(func.count()).select_from(UserSession)) == 0


def test_a_copied_remember_me_cookie_stops_working_after_logout(app, client, db_session):
    user, _ = make_owner(db_session)
    log_in(client, user.email, remember=True)
    stolen = copy_of(app, client, "remember_token")  # without the session cookie
    assert logged_in(stolen)
    log_out(client)
    assert client.get_cookie("remember_token") is None
    assert not logged_in(stolen)


def test_logging_out_everywhere_ends_every_session_of_the_person(app, client, db_session):
    user, _ = make_owner(db_session)
    someone_else, _ = make_owner(db_session)
    log_in(client, user.email)
    laptop, phone, theirs = app.test_client(), app.test_client(), app.test_client()
    log_in(laptop, user.email, remember=True)
    log_in(phone, user.email)
    log_in(theirs, someone_else.email)
    page = client.get("/account")
    assert page.status_code == 200
    assert page.text.count("(this one)") == 1
    assert len(re.findall(r"<tr>\s*<td>", page.text.split("Where you are logged in")[1])) == 3
    ended = client.post("/account/logout-everywhere", data={"csrf_token": csrf_token_from(page)})
    assert ended.status_code == 303 and ended.headers["Location"] == "/login"
    assert "You are logged out everywhere" in client.get("/login").text
    assert [logged_in(c) for c in (client, laptop, phone, theirs)] == [False, False, False, True]


def test_a_reset_password_ends_every_session_and_a_changed_one_all_but_this(
    app, client, db_session
):
    user, _ = make_owner(db_session)
    elsewhere = app.test_client()
    log_in(elsewhere, user.email, remember=True)
    # Reset through the emailed link, by someone not logged in.
    form = client.get("/password/forgot")
    client.post("/password/forgot", data={"email": user.email, "csrf_token": csrf_token_from(form)})
    db_session.expire_all()
    [email] = db_session.scalars(select(OutboxMessage)).all()
    link = re.search(r"http://localhost(/password/set/\S+)", email.payload["text"]).group(1)
    chosen = client.get(link)
    client.post(
        link,
        data={
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
            "csrf_token": csrf_token_from(chosen),
        },
    )
    assert logged_in(client) and not logged_in(elsewhere)
    # A change from one browser keeps that browser's session only.
    log_in_with_new = app.test_client()
    page = log_in_with_new.get("/login")
    log_in_with_new.post(
        "/login",
        data={"email": user.email, "password": NEW_PASSWORD, "csrf_token": csrf_token_from(page)},
    )
    page = client.get("/account/password")
    changed = client.post(
        "/account/password",
        data={
            "current_password": NEW_PASSWORD,
            "password": PASSWORD,
            "confirm": PASSWORD,
            "csrf_token": csrf_token_from(page),
        },
    )
    assert changed.status_code == 303
    assert logged_in(client) and not logged_in(log_in_with_new)


def test_sessions_expire_when_idle_and_at_the_latest_thirty_days_after_login(db_session):
    user, _ = make_owner(db_session)
    plain = services.start_session(db_session, user, NOW)
    kept = services.start_session(db_session, user, NOW, remembered=True)
    db_session.commit()

    def alive(token: str, at: dt.datetime) -> bool:
        return services.session_for_token(db_session, token, at) is not None

    assert alive(plain, NOW + dt.timedelta(hours=11, minutes=59))
    assert not alive(plain, NOW + dt.timedelta(hours=12))
    assert alive(kept, NOW + dt.timedelta(days=29))
    # In use every day, a remembered session still ends 30 days after the login.
    for day in range(1, 30):
        services.note_session_seen(
            db_session,
            services.session_for_token(db_session, kept, NOW).id,
            NOW + dt.timedelta(days=day),
        )
    assert alive(kept, NOW + dt.timedelta(days=29, hours=23))
    assert not alive(kept, NOW + dt.timedelta(days=30))
    # A login clears away the person's expired sessions.
    services.start_session(db_session, user, NOW + dt.timedelta(days=31))
    assert len(services.sessions_of(db_session, user, NOW + dt.timedelta(days=31))) == 1
    assert db_session.scalar(select(func.count()).select_from(UserSession)) == 1


def test_a_session_left_idle_on_the_server_gets_the_login_page(app, client, db_session):
    user, _ = make_owner(db_session)
    log_in(client, user.email)
    assert logged_in(client)
    db_session.execute(
        update(UserSession).values(last_seen_at=utcnow() - dt.timedelta(hours=12, minutes=1))
    )
    db_session.commit()
    assert not logged_in(client)


def test_last_seen_is_written_every_few_minutes_not_on_every_request(app, client, db_session):
    user, _ = make_owner(db_session)
    log_in(client, user.email)

    def last_seen() -> dt.datetime:
        db_session.expire_all()
        return db_session.scalar(select(UserSession.last_seen_at))

    at_login = last_seen()
    client.get("/dashboard")
    client.get("/responses")
    assert last_seen() == at_login
    earlier = utcnow() - dt.timedelta(minutes=6)
    db_session.execute(update(UserSession).values(last_seen_at=earlier))
    db_session.commit()
    assert logged_in(client)
    assert last_seen() > earlier + dt.timedelta(minutes=5)


def test_only_a_hash_of_the_session_token_is_stored(app, client, db_session):
    user, _ = make_owner(db_session)
    token = services.start_session(db_session, user, utcnow(), user_agent="Firefox\x00\n 1")
    db_session.commit()
    row = db_session.scalar(select(UserSession))
    assert token not in row.token_hash and len(row.token_hash) == 64
    assert row.user_agent == "Firefox 1"
    assert load_user(token) == user
    # Cookies made before sessions were stored ("user id.password fingerprint"), a
    # forged token, a huge one: all get the login page.
    for forged in (f"{user.id}.{user.password_fingerprint}", "x", "a" * 10_000, ""):
        assert load_user(forged) is None


@pytest.mark.slow
def test_a_copied_cookie_stops_working_on_every_gunicorn_worker_after_logout(
    live_server, db_session
):
    """Two workers: the logout reaches whichever process answers the copy."""
    user, _ = make_owner(db_session)
    with requests.Session() as browser, requests.Session() as thief:
        page = browser.get(f"{live_server}/login", timeout=30)
        logged = browser.post(
            f"{live_server}/login",
            data={
                "email": user.email,
                "password": PASSWORD,
                "remember": "y",
                "csrf_token": csrf_token_from(page.text),
            },
            allow_redirects=False,
            timeout=30,
        )
        assert logged.status_code == 302
        thief.cookies.update(browser.cookies)
        assert all(
            thief.get(f"{live_server}/dashboard", allow_redirects=False, timeout=30).status_code
            == 200
            for _ in range(6)
        )
        page = browser.get(f"{live_server}/dashboard", timeout=30)
        browser.post(
            f"{live_server}/logout", data={"csrf_token": csrf_token_from(page.text)}, timeout=30
        )
        for _ in range(6):
            refused = thief.get(f"{live_server}/dashboard", allow_redirects=False, timeout=30)
            assert refused.status_code == 302
            assert "/login" in refused.headers["Location"]
