"""/settings/testimonials: embed snippets built from BASE_URL, and the re-confirmation age."""

from __future__ import annotations

import html

from feedback.accounts.models import Workspace
from tests.factories import PASSWORD, make_owner
from tests.pages import csrf_token_from


def logged_in(client, auth, db_session) -> Workspace:
    owner, workspace = make_owner(db_session, "Acme Plants")
    auth.login(owner.email, PASSWORD)
    return workspace


def save(client, value: str):
    token = csrf_token_from(client.get("/settings/testimonials"))
    return client.post(
        "/settings/testimonials", data={"csrf_token": token, "testimonial_max_age_days": value}
    )


def test_the_page_needs_a_login(client):
    response = client.get("/settings/testimonials")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_nav_links_to_the_page(client, auth, db_session):
    logged_in(client, auth, db_session)
    page = client.get("/settings").text
    assert 'href="/settings/testimonials"' in page and ">Testimonial settings</a>" in page


def test_the_snippets_point_at_the_public_address_with_their_options(client, auth, db_session):
    ws = logged_in(client, auth, db_session)
    base = client.application.config["BASE_URL"]
    page = html.unescape(client.get("/settings/testimonials").text)
    embed = f"{base}/t/{ws.slug}/embed"
    assert f'<iframe src="{embed}?layout=grid"' in page
    assert f'<iframe src="{embed}?layout=carousel"' in page
    for option in ("?stage=", "?tag=", "?limit="):
        assert option in page
    assert f"{base}/t/{ws.slug}<" in page or f'"{base}/t/{ws.slug}"' in page
    assert f"{base}/t/{ws.slug}.json" in page
    assert "<code>purchase</code>" in page  # the stage keys to choose from


def test_the_snippets_follow_base_url_not_the_host_the_owner_used(client, auth, db_session):
    ws = logged_in(client, auth, db_session)
    client.application.config["BASE_URL"] = "https://reviews.example.com"
    page = client.get("/settings/testimonials").text
    assert f"https://reviews.example.com/t/{ws.slug}/embed?layout=grid" in page
    assert "//localhost" not in page  # the host the test client used


def test_the_age_limit_is_saved(client, auth, db_session):
    ws = logged_in(client, auth, db_session)
    assert 'value="730"' in client.get("/settings/testimonials").text
    response = save(client, "365")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/settings/testimonials")
    db_session.expire_all()
    assert db_session.get(Workspace, ws.id).testimonial_max_age_days == 365
    assert "Testimonial settings saved." in client.get("/settings/testimonials").text


def test_a_bad_age_limit_is_refused_with_a_message_and_the_input_kept(client, auth, db_session):
    ws = logged_in(client, auth, db_session)
    for typed in ("0", "3651", "-5", "two years", ""):
        response = save(client, typed)
        assert response.status_code == 422, typed
        assert 'id="testimonial_max_age_days-error"' in response.text
        if typed:
            assert f'value="{typed}"' in response.text
    assert "from 1 to 3650" in save(client, "0").text
    db_session.expire_all()
    assert db_session.get(Workspace, ws.id).testimonial_max_age_days == 730


def test_saving_needs_the_csrf_token(client, auth, db_session):
    ws = logged_in(client, auth, db_session)
    response = client.post("/settings/testimonials", data={"testimonial_max_age_days": "30"})
    assert response.status_code == 400
    db_session.expire_all()
    assert db_session.get(Workspace, ws.id).testimonial_max_age_days == 730
