"""Caching and transport headers: nothing personal is stored by a browser or a proxy.

Owner pages, exports, the API and every page that carries a personal link or a
CSRF token answer `Cache-Control: no-store`; only the public wall, widget and
feed may be kept, briefly. HSTS is sent when the service lives on https.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from feedback import create_app
from feedback.config import config_for_tests
from feedback.db import utcnow
from feedback.extensions import db
from feedback.surveys.emails import unsubscribe_token
from feedback.testimonials import consent
from tests.factories import (
    NOW,
    PASSWORD,
    make_invitation,
    make_workspace,
    owner_with_every_page,
    quote,
)
from tests.support.api import api_client_for
from tests.support.clients import AuthActions

PUBLIC_CACHE_CONTROL = "public, max-age=300"
STRICT_TRANSPORT_SECURITY = "max-age=63072000; includeSubDomains"


def never_stored(response: TestResponse) -> bool:
    directives = {part.strip() for part in response.headers.get("Cache-Control", "").split(",")}
    return "no-store" in directives


def test_every_owner_page_and_export_answers_no_store(
    client: FlaskClient, auth: AuthActions, db_session: Session
) -> None:
    user, paths = owner_with_every_page(db_session)
    testimonial_id = quote(db_session, user.memberships[0].workspace, "Lovely.").id
    auth.login(user.email, PASSWORD)
    paths += [
        "/export/responses.csv",
        "/export/testimonials.csv",
        "/touchpoints/import/sample.csv",
        "/settings/links/purchase/qr.svg",
        f"/testimonials/{testimonial_id}/card.svg",
    ]
    stored = {}
    for path in paths:
        page = client.get(path)
        assert page.status_code == 200, (path, page.status_code)
        if not never_stored(page):
            stored[path] = page.headers.get("Cache-Control")
    assert stored == {}


def test_api_answers_and_api_errors_answer_no_store(
    client: FlaskClient, db_session: Session
) -> None:
    api = api_client_for(client, db_session, make_workspace(db_session))
    answers = [
        api.get("/api/v1/responses"),
        api.get("/api/v1/stages"),
        api.get("/api/v1/testimonials"),
        api.get("/api/v1/responses/nowhere"),
        client.get("/api/v1/responses"),  # no key: 401
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 404, 401]
    assert all(never_stored(a) for a in answers)


def test_pages_with_personal_links_or_csrf_tokens_answer_no_store(
    app: Flask, client: FlaskClient, db_session: Session
) -> None:
    workspace = make_workspace(db_session)
    issued = make_invitation(db_session, workspace, now=utcnow())
    testimonial = quote(db_session, workspace, "Quote me.")
    consent_token = consent.issue_consent_link(db_session, testimonial, NOW)
    db_session.commit()
    contact = issued.invitation.contact
    paths = [
        "/login",
        "/password/forgot",
        f"/s/{issued.token}",
        f"/consent/{consent_token}",
        f"/u/{unsubscribe_token(app.config['SECRET_KEY'], contact)}",
        f"/f/{workspace.slug}/purchase",
        "/nowhere",  # an error page
    ]
    answers = {path: client.get(path) for path in paths}
    assert {p: a.status_code for p, a in answers.items()} == {
        **{p: 200 for p in paths[:-1]},
        "/nowhere": 404,
    }
    assert [p for p, a in answers.items() if not never_stored(a)] == []


def test_public_wall_widget_and_feed_may_be_cached_for_five_minutes(
    client: FlaskClient, db_session: Session
) -> None:
    workspace = make_workspace(db_session)
    quote(db_session, workspace, "Healthy plants, well packed.")
    for path in (f"/t/{workspace.slug}", f"/t/{workspace.slug}/embed", f"/t/{workspace.slug}.json"):
        page = client.get(path)
        assert page.status_code == 200
        assert page.headers.get("Cache-Control") == PUBLIC_CACHE_CONTROL
    # A refusal or an unknown business is not kept.
    for path in (f"/t/{workspace.slug}/embed?limit=x", "/t/no-such-business", "/t/no-such.json"):
        page = client.get(path)
        assert page.status_code in (400, 404)
        assert never_stored(page)


def test_a_public_page_seen_by_a_logged_in_owner_is_still_the_same_for_everyone(
    client: FlaskClient, auth: AuthActions, db_session: Session
) -> None:
    user, _paths = owner_with_every_page(db_session)
    auth.login(user.email, PASSWORD)
    page = client.get(f"/t/{user.memberships[0].workspace.slug}")
    assert page.status_code == 200
    # Only public data on it, and no cookie set or read for it.
    assert "Set-Cookie" not in page.headers
    assert page.headers.get("Cache-Control") == PUBLIC_CACHE_CONTROL


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://feedback.example.com", STRICT_TRANSPORT_SECURITY),
        ("http://127.0.0.1:8000", None),
    ],
)
def test_hsts_is_sent_when_the_service_lives_on_https(
    database_url: str, base_url: str, expected: str | None
) -> None:
    config = config_for_tests(database_url)
    config.BASE_URL = base_url
    app = create_app(config)
    with app.app_context():
        client = app.test_client()
        for path in ("/login", "/nowhere", "/api/v1/stages"):
            assert client.get(path).headers.get("Strict-Transport-Security") == expected
        db.engine.dispose()
