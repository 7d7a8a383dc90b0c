"""Every owner page fits a phone's width: nothing scrolls sideways but a table inside its frame."""

from __future__ import annotations

import pytest

from feedback.accounts.services import add_member, create_api_key
from feedback.db import utcnow
from feedback.journey.services import stages_in_order
from tests.browser.conftest import browser_needed, log_in
from tests.factories import PASSWORD, make_owner, make_response

pytestmark = [browser_needed, pytest.mark.slow]


def test_owner_pages_do_not_scroll_sideways_on_a_phone(browser, live_server, db_session):
    user, workspace = make_owner(db_session)
    now = utcnow()
    unhappy = make_response(
        db_session,
        workspace,
        rating=1,
        comment="The pot arrived cracked and nobody answered my emails for a week. "
        "Anexceptionallylongwordwithoutanyspacesthatcouldpushthelayoutsideways.",
        now=now,
    )
    make_response(db_session, workspace, rating=5, opt_in=True, display_name="Priya K.", now=now)
    add_member(db_session, workspace, "a.rather.long.address.for.a.colleague@example.com", "member")
    create_api_key(db_session, workspace, "Shop orders", now, created_by=user)
    db_session.commit()
    stage = stages_in_order(db_session, workspace.id)[2]
    paths = [
        "/dashboard",
        f"/stages/{stage.key}",
        "/responses",
        f"/responses/{unhappy.id}",
        "/follow-ups",
        f"/follow-ups/{unhappy.id}",
        "/testimonials",
        "/settings/team",
        "/settings/journey",
        f"/settings/journey/{stage.id}",
        "/settings/api-keys",
        "/settings",
        "/settings/delivery",
        "/settings/links",
        "/settings/testimonials",
        "/settings/webhooks",
        "/touchpoints/import",
        "/account/password",
    ]
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True)
    page = context.new_page()
    try:
        log_in(page, live_server, user.email, PASSWORD)
        too_wide = []
        for path in paths:
            response = page.goto(f"{live_server}{path}")
            assert response is not None and response.status == 200, path
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > 390:
                too_wide.append((path, width))
        assert too_wide == []
    finally:
        context.close()
