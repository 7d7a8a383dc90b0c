"""The customer's consent page (/consent/<token>) and the owner's re-confirmation request."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from feedback.accounts.models import Workspace
from feedback.db import utcnow
from feedback.delivery.models import OutboxMessage
from feedback.testimonials import consent
from feedback.testimonials.models import Testimonial
from feedback.testimonials.services import approve, set_excerpt
from tests.factories import (
    NOW,
    PASSWORD,
    make_owner,
    make_workspace,
    open_link_testimonial,
    opted_in,
)
from tests.pages import csrf_token_from
from tests.support.clients import AuthActions

EVIL_NAME = '<img src=x onerror="alert(1)">'
EVIL_ROLE = "<script>alert('role')</script>"


@pytest.fixture
def shop(db_session: Session) -> Workspace:
    return make_workspace(db_session, "Greenleaf Plants", timezone="Europe/Berlin")


def given(
    session: Session, workspace: Workspace, comment: str = "Lovely fern, quick delivery.", **kw
) -> tuple[Testimonial, str]:  # type: ignore[no-untyped-def]
    """An opted-in answer and a consent link to it."""
    testimonial = opted_in(session, workspace, comment, **kw)
    token = consent.issue_consent_link(session, testimonial, NOW)
    session.commit()
    return testimonial, token


def reload(session: Session, testimonial: Testimonial) -> Testimonial:
    session.expire_all()
    found = session.get(Testimonial, testimonial.id)
    assert found is not None
    return found


def post_button(client: FlaskClient, token: str, action: str):  # type: ignore[no-untyped-def]
    page = client.get(f"/consent/{token}")
    return client.post(f"/consent/{token}/{action}", data={"csrf_token": csrf_token_from(page)})


def test_the_page_shows_exactly_what_was_agreed_and_when_in_the_workspace_time_zone(
    client: FlaskClient, db_session: Session, shop: Workspace
) -> None:
    testimonial, token = given(
        db_session, shop, display_name="Cara", role="Owner, Fern & Co", channels="website print"
    )
    page = client.get(f"/consent/{token}")
    assert page.status_code == 200
    html = page.text
    assert '<meta name="robots" content="noindex">' in html
    assert "Greenleaf Plants" in html
    assert testimonial.consent_text.replace("'", "&#39;") in html
    assert f"version {testimonial.consent_version}" in html
    assert "15 Jun 2026, 14:00 (Europe/Berlin)" in html  # 12:00 UTC, summer time
    assert "on our website and in print and advertising" in html
    assert "“Cara”, shown with the quote" in html and "Owner, Fern &amp; Co" in html
    assert "Lovely fern, quick delivery." in html
    assert "waiting for Greenleaf Plants to review it" in html
    assert "Withdraw my consent" in html and "Yes, keep showing it" not in html


def test_the_page_shows_the_owners_excerpt_and_the_status_after_moderation(
    client: FlaskClient, db_session: Session, shop: Workspace
) -> None:
    testimonial, token = given(db_session, shop, display_name=None)
    set_excerpt(db_session, shop.id, testimonial.id, "quick delivery")
    approve(db_session, shop.id, testimonial.id, None, NOW)
    db_session.commit()
    html = client.get(f"/consent/{token}").text
    assert "“quick delivery”" in html and "on show" in html
    assert "not shown; you appear as “A verified customer”" in html
    testimonial = reload(db_session, testimonial)
    testimonial.status = "rejected"
    db_session.commit()
    assert "decided not to use it" in client.get(f"/consent/{token}").text


def test_customer_text_is_escaped_on_the_consent_page(
    client: FlaskClient, db_session: Session, shop: Workspace
) -> None:
    _, token = given(
        db_session, shop, "Great </p><script>x()</script>", display_name=EVIL_NAME, role=EVIL_ROLE
    )
    html = client.get(f"/consent/{token}").text
    for evil in (EVIL_NAME, EVIL_ROLE, "<script>x()</script>"):
        assert evil not in html
    assert "&lt;img src=x" in html and "&lt;script&gt;" in html


@pytest.mark.parametrize("token", ["nope", "x" * 300, "%00", "a.b.c"])
def test_an_unknown_or_garbage_token_gets_a_friendly_404(
    client: FlaskClient, db_session: Session, shop: Workspace, token: str
) -> None:
    given(db_session, shop)
    page = client.get(f"/consent/{token}")
    assert page.status_code == 404
    assert "could not find this consent link" in page.text
    assert '<meta name="robots" content="noindex">' in page.text
    assert client.get(f"/consent/{token}", follow_redirects=False).status_code == 404


def test_withdrawing_is_one_button_and_takes_effect_now(
    client: FlaskClient, db_session: Session, shop: Workspace
) -> None:
    testimonial, token = given(db_session, shop)
    before = utcnow()
    result = post_button(client, token, "withdraw")
    assert result.status_code == 303 and result.headers["Location"] == f"/consent/{token}"
    withdrawn_at = reload(db_session, testimonial).withdrawn_at
    assert withdrawn_at is not None and withdrawn_at >= before
    page = client.get(f"/consent/{token}").text
    assert "You withdrew your consent" in page
    assert "removed from the testimonial wall, widget and feed at once" in page
    assert "Withdraw my consent" not in page


def test_withdrawing_without_the_csrf_token_is_refused(
    client: FlaskClient, db_session: Session, shop: Workspace
) -> None:
    testimonial, token = given(db_session, shop)
    assert client.post(f"/consent/{token}/withdraw").status_code == 400
    refused = client.post(f"/consent/{token}/withdraw", data={"csrf_token": "forged"})
    assert refused.status_code == 400
    assert reload(db_session, testimonial).withdrawn_at is None
    # Not a dead end: the same page with a fresh button and a word why, which then works.
    assert "please press the button again" in refused.text
    assert "Withdraw my consent" in refused.text
    again = client.post(f"/consent/{token}/withdraw", data={"csrf_token": csrf_token_from(refused)})
    assert again.status_code == 303
    assert reload(db_session, testimonial).withdrawn_at is not None


def test_a_stale_withdrawal_for_an_unknown_token_is_still_a_404(
    client: FlaskClient, db_session: Session
) -> None:
    assert client.post("/consent/nope/withdraw", data={"csrf_token": "forged"}).status_code == 404


def test_withdrawing_an_unknown_token_is_a_404(
    client: FlaskClient, db_session: Session, shop
) -> None:
    _testimonial, token = given(db_session, shop)
    page = client.get(f"/consent/{token}")
    result = client.post("/consent/nope/withdraw", data={"csrf_token": csrf_token_from(page)})
    assert result.status_code == 404


def test_withdrawing_twice_keeps_the_first_time(
    client: FlaskClient, db_session: Session, shop: Workspace
) -> None:
    testimonial, token = given(db_session, shop)
    second_token = consent.issue_consent_link(db_session, testimonial, NOW)
    db_session.commit()
    # A page opened earlier (through another link) still withdraws, and changes nothing.
    old_page = client.get(f"/consent/{second_token}")
    post_button(client, token, "withdraw")
    first = reload(db_session, testimonial).withdrawn_at
    token_field = {"csrf_token": csrf_token_from(old_page)}
    result = client.post(f"/consent/{second_token}/withdraw", data=token_field)
    assert result.status_code == 303
    assert reload(db_session, testimonial).withdrawn_at == first


def test_a_withdrawn_testimonial_leaves_the_wall_widget_and_feed_at_once(
    client: FlaskClient, db_session: Session, shop: Workspace
) -> None:
    testimonial, token = given(db_session, shop, "Best nursery in town, truly.")
    approve(db_session, shop.id, testimonial.id, None, utcnow())
    db_session.commit()
    surfaces = (f"/t/{shop.slug}", f"/t/{shop.slug}/embed", f"/t/{shop.slug}.json")
    for path in surfaces:
        assert "Best nursery in town" in client.get(path).text, path
    post_button(client, token, "withdraw")
    for path in surfaces:
        page = client.get(path)
        assert page.status_code == 200 and "Best nursery in town" not in page.text, path


def test_a_stale_quote_offers_to_keep_showing_it(
    client: FlaskClient, db_session: Session, shop: Workspace
) -> None:
    shop.testimonial_max_age_days = 30
    db_session.commit()
    testimonial, token = given(db_session, shop)  # consented on NOW, months ago
    page = client.get(f"/consent/{token}").text
    assert "Still happy for us to quote you?" in page and "Yes, keep showing it" in page
    before = utcnow()
    result = post_button(client, token, "reconfirm")
    assert result.status_code == 303
    reconfirmed = reload(db_session, testimonial).reconfirmed_at
    assert reconfirmed is not None and reconfirmed >= before
    page = client.get(f"/consent/{token}").text
    assert "confirmed again on" in page and "Yes, keep showing it" not in page


def test_a_fresh_quote_offers_reconfirming_only_when_the_owner_asked(
    client: FlaskClient, db_session: Session, shop: Workspace
) -> None:
    _testimonial, token = given(db_session, shop)
    assert "Yes, keep showing it" not in client.get(f"/consent/{token}").text
    assert "Yes, keep showing it" in client.get(f"/consent/{token}?ask=1").text


def test_a_withdrawn_quote_is_not_reconfirmed(
    client: FlaskClient, db_session: Session, shop: Workspace
) -> None:
    testimonial, token = given(db_session, shop)
    page = client.get(f"/consent/{token}?ask=1")
    post_button(client, token, "withdraw")
    assert "Yes, keep showing it" not in client.get(f"/consent/{token}?ask=1").text
    result = client.post(f"/consent/{token}/reconfirm", data={"csrf_token": csrf_token_from(page)})
    assert result.status_code == 303
    assert reload(db_session, testimonial).reconfirmed_at is None


def test_reconfirming_without_the_csrf_token_is_refused(
    client: FlaskClient, db_session: Session, shop: Workspace
) -> None:
    testimonial, token = given(db_session, shop)
    assert client.post(f"/consent/{token}/reconfirm").status_code == 400
    assert reload(db_session, testimonial).reconfirmed_at is None


# --- The owner's request ------------------------------------------------------------------


@pytest.fixture
def owner_shop(db_session: Session, auth: AuthActions) -> Workspace:
    user, workspace = make_owner(db_session, "Greenleaf Plants")
    auth.login(user.email, PASSWORD)
    return workspace


def ask(client: FlaskClient, testimonial_id: int, query: str = ""):  # type: ignore[no-untyped-def]
    page = client.get("/testimonials")
    return client.post(
        f"/testimonials/{testimonial_id}/reconfirm{query}",
        data={"csrf_token": csrf_token_from(page)},
    )


def emails(session: Session) -> list[dict[str, object]]:
    session.expire_all()
    return [m.payload for m in session.scalars(select(OutboxMessage))]


def test_an_owner_asks_a_customer_to_reconfirm_and_the_emailed_link_works(
    client: FlaskClient, db_session: Session, owner_shop: Workspace
) -> None:
    testimonial = opted_in(db_session, owner_shop, "Lovely fern.")
    result = ask(client, testimonial.id, "?show=approved&after=WzEsMl0")
    assert result.status_code == 303
    assert result.headers["Location"] == "/testimonials?show=approved&after=WzEsMl0"
    assert "Asked the customer by email" in client.get(result.headers["Location"]).text
    [payload] = emails(db_session)
    assert payload["to"] == reload(db_session, testimonial).response.contact.email  # type: ignore[union-attr]
    path = re.search(r"http://localhost(/consent/[\w-]+\?ask=1)", str(payload["text"])).group(1)  # type: ignore[union-attr]
    page = client.application.test_client().get(path)  # the customer's own browser
    assert page.status_code == 200 and "Yes, keep showing it" in page.text


def test_an_owner_cannot_ask_about_another_workspaces_testimonial(
    client: FlaskClient, db_session: Session, owner_shop: Workspace
) -> None:
    theirs = opted_in(db_session, make_workspace(db_session, "Other Shop"))
    assert ask(client, theirs.id).status_code == 404
    assert ask(client, 999_999).status_code == 404
    assert emails(db_session) == []


def test_asking_about_an_open_link_or_withdrawn_testimonial_explains_why_not(
    client: FlaskClient, db_session: Session, owner_shop: Workspace
) -> None:
    anonymous = open_link_testimonial(db_session, owner_shop)
    result = ask(client, anonymous.id)
    assert result.status_code == 303
    assert "no email address to ask" in client.get(result.headers["Location"]).text
    withdrawn = opted_in(db_session, owner_shop)
    withdrawn.withdrawn_at = NOW + dt.timedelta(days=1)
    db_session.commit()
    result = ask(client, withdrawn.id)
    assert "nothing to re-confirm" in client.get(result.headers["Location"]).text
    assert emails(db_session) == []


def test_asking_needs_a_login_and_the_csrf_token(
    client: FlaskClient, db_session: Session, shop: Workspace
) -> None:
    testimonial = opted_in(db_session, shop)
    assert client.post(f"/testimonials/{testimonial.id}/reconfirm").status_code in (302, 400)
    user, _ = make_owner(db_session, shop.name)
    page = client.get("/login")
    client.post(
        "/login",
        data={"email": user.email, "password": PASSWORD, "csrf_token": csrf_token_from(page)},
    )
    refused = client.post(f"/testimonials/{testimonial.id}/reconfirm")
    assert refused.status_code == 400 and "The form had expired" in refused.text
    assert emails(db_session) == []
