"""Journey setup on a phone, in a real browser: reorder, rename, add a touchpoint."""

from __future__ import annotations

import pytest

from tests.factories import PASSWORD, make_owner
from tests.support.browser import browser_needed, log_in

pytestmark = [browser_needed, pytest.mark.slow]


def test_an_owner_reorders_renames_and_adds_a_touchpoint_on_a_phone(
    browser, live_server, db_session
):
    user, _workspace = make_owner(db_session)
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True)
    page = context.new_page()
    try:
        log_in(page, live_server, user.email, PASSWORD)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
        page.get_by_role("navigation", name="Settings").get_by_role(
            "link", name="Journey setup"
        ).click()
        page.wait_for_url("**/settings/journey")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.get_by_role("button", name="Move Retention earlier").click()
        names = page.locator(".stage-list h2 a").all_text_contents()
        assert names[2:4] == ["Retention", "Purchase decision"]

        page.get_by_role("link", name="Edit Retention").click()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        page.get_by_label("Name", exact=True).first.fill("Looking after you")
        page.get_by_role("button", name="Save stage").click()
        assert page.locator(".flash").text_content() == "Stage saved."
        page.fill("#new-name", "Home visit")
        page.select_option("#new-channel", "meeting")
        page.get_by_role("button", name="Add touchpoint").click()
        assert "added (key home-visit)" in (page.locator(".flash").text_content() or "")
        # A refused rename keeps what was typed and says why next to the field.
        page.locator("input[id$='-name'][value='Home visit']").fill("")
        page.get_by_role("button", name="Save Home visit").click()
        assert page.locator(".has-error .error").first.text_content() == "Please enter a name."

        page.get_by_role("navigation", name="Main").get_by_role("link", name="Journey").click()
        titles = page.locator(".journey .card h2").all_text_contents()
        assert "Looking after you" in titles[2]
    finally:
        context.close()
