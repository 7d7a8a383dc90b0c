"""Every owner page fits a phone's width: nothing scrolls sideways but a table inside its frame."""

from __future__ import annotations

import pytest

from tests.factories import PASSWORD, owner_with_every_page
from tests.support.browser import PHONE, browser_needed, log_in

pytestmark = [browser_needed, pytest.mark.slow]


def test_owner_pages_do_not_scroll_sideways_on_a_phone(browser, live_server, db_session):
    user, paths = owner_with_every_page(db_session)
    context = browser.new_context(viewport=PHONE, has_touch=True)
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
