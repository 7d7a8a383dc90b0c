"""Passwords: changing your own, links to set one (invitation, reset), sessions ending."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from feedback.accounts import services
from feedback.accounts.models import User
from feedback.db import utcnow
from feedback.delivery.models import OutboxMessage
from tests.factories import PASSWORD, make_owner
from tests.pages import csrf_token_from

SECRET = "test-secret-key"
NEW_PASSWORD = "a much better passphrase"


def emails(db_session) -> list[dict]:
    db_session.expire_all()
    return [m.payload for m in db_session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]


def link_in(payload: dict) -> str:
    match = re.search(r"http://localhost(/password/set/\S+)", payload["text"])
    assert match, payload["text"]
    return match.group(1)


@pytest.mark.parametrize(
    ("password", "confirm", "field", "message"),
    [
        ("short", "short", "password", "at least 10"),
        ("x" * 201, "x" * 201, "password", "at most 200"),
        (NEW_PASSWORD, NEW_PASSWORD + "!", "confirm", "not the same"),
    ],
)
def test_weak_or_mistyped_passwords_are_refused(db_session, password, confirm, field, message):
    user, _ = make_owner(db_session)
    with pytest.raises(services.AccountFieldError, match=message) as refused:
        services.set_password(db_session, user, password, confirm)
    assert refused.value.field == field


def test_changing_needs_the_current_password(db_session):
    user, _ = make_owner(db_session)
    with pytest.raises(services.AccountFieldError, match="not your current") as refused:
        services.change_password(db_session, user, "wrong one!", NEW_PASSWORD, NEW_PASSWORD)
    assert refused.value.field == "current_password"
    services.change_password(db_session, user, PASSWORD, NEW_PASSWORD, NEW_PASSWORD)
    assert services.authenticate(db_session, user.email, NEW_PASSWORD) is user


def test_a_password_link_works_once_and_not_for_long(db_session):
    user, _ = make_owner(db_session)
    now = utcnow()
    reset = services.password_link_token(SECRET, user, "reset")
    invite = services.password_link_token(SECRET, user, "invite")
    assert services.user_for_password_link(db_session, SECRET, reset, now) is user
    later = now + dt.timedelta(hours=2)
    assert services.user_for_password_link(db_session, SECRET, reset, later) is None
    assert services.user_for_password_link(db_session, SECRET, invite, later) is user
    assert services.user_for_password_link(db_session, "another-secret", invite, now) is None
    assert services.user_for_password_link(db_session, SECRET, invite[:-2], now) is None
    services.set_password(db_session, user, NEW_PASSWORD, NEW_PASSWORD)
    assert services.user_for_password_link(db_session, SECRET, invite, now) is None
    with pytest.raises(ValueError):
        services.password_link_token(SECRET, user, "forever")


def test_owners_change_their_password_and_other_sessions_end(app, client, db_session, auth):
    user, _ = make_owner(db_session)
    auth.login(user.email, PASSWORD)
    other_device = app.test_client()
    type(auth)(other_device).login(user.email, PASSWORD)
    page = client.get("/account/password")
    assert page.status_code == 200
    token = csrf_token_from(page)
    refused = client.post(
        "/account/password",
        data={
            "current_password": "not it at all",
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
            "csrf_token": token,
        },
    )
    assert refused.status_code == 422 and "That is not your current password." in refused.text
    changed = client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
            "csrf_token": token,
        },
    )
    assert changed.status_code == 303
    assert "logged out everywhere else" in client.get("/account/password").text
    assert client.get("/dashboard").status_code == 200
    assert other_device.get("/dashboard").status_code == 302  # back to the login page
    db_session.expire_all()
    assert services.authenticate(db_session, user.email, NEW_PASSWORD) is not None


def test_a_forgotten_password_is_reset_through_an_emailed_link(client, db_session):
    user, _ = make_owner(db_session)
    page = client.get("/login")
    assert 'href="/password/forgot"' in page.text
    form = client.get("/password/forgot")
    asked = client.post(
        "/password/forgot",
        data={"email": user.email.upper(), "csrf_token": csrf_token_from(form)},
    )
    assert asked.status_code == 200 and "is on its way" in asked.text
    [email] = emails(db_session)
    assert email["to"] == user.email and "new password" in email["subject"]
    link = link_in(email)
    chosen = client.get(link)
    assert chosen.status_code == 200 and user.email in chosen.text
    short = client.post(
        link, data={"password": "short", "confirm": "short", "csrf_token": csrf_token_from(chosen)}
    )
    assert short.status_code == 422 and "Please use at least 10 characters." in short.text
    done = client.post(
        link,
        data={
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
            "csrf_token": csrf_token_from(chosen),
        },
    )
    assert done.status_code == 303 and done.headers["Location"].endswith("/dashboard")
    assert client.get("/dashboard").status_code == 200
    replayed = client.get(link)
    assert replayed.status_code == 410 and "no longer works" in replayed.text
    assert client.post(link, data={"password": "x", "csrf_token": "x"}).status_code in (400, 410)


def test_asking_for_an_unknown_address_looks_the_same_and_sends_nothing(client, db_session):
    make_owner(db_session)
    form = client.get("/password/forgot")
    asked = client.post(
        "/password/forgot",
        data={"email": "nobody@example.com", "csrf_token": csrf_token_from(form)},
    )
    assert asked.status_code == 200 and "is on its way" in asked.text
    assert emails(db_session) == []
    missing = client.post(
        "/password/forgot", data={"email": "", "csrf_token": csrf_token_from(form)}
    )
    assert missing.status_code == 422 and "Please enter your email." in missing.text


def test_forged_password_links_are_refused(client, db_session):
    user, _ = make_owner(db_session)
    for token in ("nonsense", "a" * 300, services.password_link_token("other", user, "invite")):
        assert client.get(f"/password/set/{token}").status_code == 410
    db_session.expire_all()
    assert db_session.get(User, user.id).password_hash == user.password_hash


def test_reset_requests_are_rate_limited(client, db_session):
    form = client.get("/password/forgot")
    data = {"email": "someone@example.com", "csrf_token": csrf_token_from(form)}
    statuses = [client.post("/password/forgot", data=data).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
