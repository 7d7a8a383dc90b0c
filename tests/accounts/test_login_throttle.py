"""Failed logins are counted per address in the database, so the limit holds whatever
process answers (issue 13, item 10): 10 checked passwords per 15 minutes, then 15
minutes locked, the same for addresses with no account."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select

from feedback.accounts import services
from feedback.accounts.models import LoginThrottle
from feedback.db import utcnow
from feedback.delivery.models import OutboxMessage
from tests.factories import NOW, PASSWORD, make_owner
from tests.pages import csrf_token_from

LOCKED = "Too many failed logins with this email."
ALLOWED = services.LOGIN_ATTEMPTS_ALLOWED
MINUTE = dt.timedelta(minutes=1)


def attempts(db_session, email: str, at: dt.datetime, n: int) -> list[dt.datetime | None]:
    """Count n attempts at `at`: None for each that may go ahead, else the lock's end."""
    results: list[dt.datetime | None] = []
    for _ in range(n):
        try:
            services.count_login_attempt(db_session, email, at)
        except services.LoginLocked as locked:
            results.append(locked.until)
        else:
            results.append(None)
        db_session.commit()
    return results


def test_the_attempt_after_ten_in_fifteen_minutes_is_refused_for_fifteen_minutes(db_session):
    user, _ = make_owner(db_session)
    assert attempts(db_session, user.email, NOW, ALLOWED) == [None] * ALLOWED
    later = NOW + 14 * MINUTE
    assert attempts(db_session, user.email.upper(), later, 2) == [later + 15 * MINUTE] * 2
    # Still locked a minute before the end; tried again when it is over, counting from one.
    assert attempts(db_session, user.email, later + 14 * MINUTE, 1) == [later + 15 * MINUTE]
    after = later + 15 * MINUTE
    assert attempts(db_session, user.email, after, ALLOWED + 1) == [None] * ALLOWED + [
        after + 15 * MINUTE
    ]


def test_attempts_older_than_the_window_no_longer_count(db_session):
    user, _ = make_owner(db_session)
    assert attempts(db_session, user.email, NOW, ALLOWED - 1) == [None] * (ALLOWED - 1)
    then = NOW + 15 * MINUTE
    assert attempts(db_session, user.email, then, ALLOWED) == [None] * ALLOWED


def test_an_address_without_an_account_is_counted_and_locked_the_same_way(db_session):
    user, _ = make_owner(db_session)
    known = attempts(db_session, user.email, NOW, ALLOWED + 2)
    unknown = attempts(db_session, "nobody@example.com", NOW, ALLOWED + 2)
    assert known == unknown == [None] * ALLOWED + [NOW + 15 * MINUTE] * 2
    # Only hashes of the addresses are kept.
    stored = db_session.scalars(select(LoginThrottle.email_hash)).all()
    assert len(stored) == 2 and not any("@" in key for key in stored)


def test_a_login_or_a_new_password_clears_the_count(db_session):
    user, _ = make_owner(db_session)
    attempts(db_session, user.email, NOW, ALLOWED)
    services.start_session(db_session, user, NOW)
    db_session.commit()
    assert attempts(db_session, user.email, NOW, ALLOWED) == [None] * ALLOWED
    assert attempts(db_session, user.email, NOW, 1) == [NOW + 15 * MINUTE]
    services.set_password(db_session, user, "a brand new passphrase", "a brand new passphrase")
    db_session.commit()
    assert attempts(db_session, user.email, NOW, 1) == [None]


def test_counts_of_addresses_tried_long_ago_are_dropped_at_the_next_login(db_session):
    user, _ = make_owner(db_session)
    for n in range(5):
        attempts(db_session, f"typo{n}@example.com", NOW, 3)
    attempts(db_session, "locked@example.com", NOW, ALLOWED)
    assert attempts(db_session, "locked@example.com", NOW + 10 * MINUTE, 1) == [NOW + 25 * MINUTE]
    services.start_session(db_session, user, NOW + 16 * MINUTE)
    db_session.commit()
    # Only the one still locked is kept, though its window is over.
    assert db_session.scalar(select(func.count()).select_from(LoginThrottle)) == 1
    assert attempts(db_session, "locked@example.com", NOW + 16 * MINUTE, 1) == [NOW + 25 * MINUTE]


_addresses = (f"10.1.{n // 250}.{n % 250 + 1}" for n in itertools.count())


def post_login(client, email: str, password: str, token: str):
    """A login POST from an address of its own, so only the per-account count applies."""
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": next(_addresses)},
    )


def test_a_locked_account_refuses_the_right_password_and_says_the_same_as_for_nobody(
    client, db_session
):
    user, _ = make_owner(db_session)
    token = csrf_token_from(client.get("/login"))
    answers = {}
    for email in (user.email, "nobody@example.com"):
        statuses = [
            post_login(client, email, "a wrong guess", token).status_code for _ in range(12)
        ]
        assert statuses == [422] * ALLOWED + [429] * 2
        locked = post_login(client, email, PASSWORD, token)
        assert locked.status_code == 429
        assert 14 * 60 < int(locked.headers["Retry-After"]) <= 15 * 60
        assert LOCKED in locked.text and "try again in 15 minutes" in locked.text
        answers[email] = re.sub(r'value="[^"]*"', "", locked.text)
    assert answers[user.email] == answers["nobody@example.com"]
    assert client.get("/dashboard").status_code == 302
    # The emailed reset still works, and clears the lock.
    form = client.get("/password/forgot")
    client.post("/password/forgot", data={"email": user.email, "csrf_token": csrf_token_from(form)})
    db_session.expire_all()
    [email] = db_session.scalars(select(OutboxMessage)).all()
    link = re.search(r"http://localhost(/password/set/\S+)", email.payload["text"]).group(1)
    new = "a brand new passphrase"
    chosen = client.get(link)
    client.post(
        link,
        data={"password": new, "confirm": new, "csrf_token": csrf_token_from(chosen)},
    )
    other_browser = client.application.test_client()
    token = csrf_token_from(other_browser.get("/login"))
    assert post_login(other_browser, user.email, new, token).status_code == 302


def _hammer(base: str, email: str, passwords: list[str], spoof: bool) -> list[tuple[int, str]]:
    """POST each password from its own browser session; (status, body) in order sent."""

    def one(numbered: tuple[int, str]) -> tuple[int, str]:
        n, password = numbered
        with requests.Session() as browser:
            page = browser.get(f"{base}/login", timeout=30)
            headers = {"X-Forwarded-For": f"10.2.{n // 250}.{n % 250 + 1}"} if spoof else {}
            answer = browser.post(
                f"{base}/login",
                data={
                    "email": email,
                    "password": password,
                    "csrf_token": csrf_token_from(page.text),
                },
                headers=headers,
                allow_redirects=False,
                timeout=30,
            )
            return answer.status_code, answer.text

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(one, enumerate(passwords)))


@pytest.fixture
def live_server_behind_a_proxy(monkeypatch, request):
    """gunicorn trusting one proxy's X-Forwarded-For: each request can come from its own
    address, as a botnet's do, so the per-address limit never applies."""
    monkeypatch.setenv("PROXY_COUNT", "1")
    return request.getfixturevalue("live_server")


@pytest.mark.slow
def test_thirty_wrong_passwords_to_two_workers_from_one_address(live_server, db_session):
    user, _ = make_owner(db_session)
    answers = _hammer(live_server, user.email, ["a wrong guess"] * 30, spoof=False)
    statuses = [status for status, _ in answers]
    assert set(statuses) <= {422, 429}, statuses
    assert statuses.count(422) <= ALLOWED, statuses
    assert 429 in statuses[: ALLOWED + 4], statuses


@pytest.mark.slow
def test_thirty_wrong_passwords_from_thirty_addresses_to_two_workers(
    live_server_behind_a_proxy, db_session
):
    user, _ = make_owner(db_session)
    answers = _hammer(live_server_behind_a_proxy, user.email, ["a wrong guess"] * 30, spoof=True)
    statuses = [status for status, _ in answers]
    # Exactly ten passwords were checked, whichever worker got them, and every other
    # answer is the account's lock (not the per-address limit: every address is new).
    assert statuses.count(422) == ALLOWED, statuses
    assert statuses.count(429) == 30 - ALLOWED, statuses
    assert all(LOCKED in body for status, body in answers if status == 429)
    [(status, body)] = _hammer(live_server_behind_a_proxy, user.email, [PASSWORD], spoof=True)
    assert status == 429 and LOCKED in body
    db_session.expire_all()
    [row] = db_session.scalars(select(LoginThrottle)).all()
    assert row.locked_until > utcnow() + 14 * MINUTE


def test_control_characters_in_an_address_get_the_usual_answers(client, db_session):
    user, _ = make_owner(db_session)
    token = csrf_token_from(client.get("/login"))
    # (A NUL is removed from every form field before the view sees it.)
    for email in (f"{user.email}\x01", "a\x07b@example.com", "\x1b[2J@example.com"):
        refused = post_login(client, email, PASSWORD, token)
        assert refused.status_code == 422 and "do not match an account" in refused.text
        asked = client.post("/password/forgot", data={"email": email, "csrf_token": token})
        assert asked.status_code == 200 and "is on its way" in asked.text
