"""The owner's dashboard and stage page in a real browser: charts drawn and readable."""

from __future__ import annotations

import datetime as dt

import pytest

from feedback.db import utcnow
from tests.factories import PASSWORD, make_owner, make_response
from tests.support.browser import browser_needed, log_in

pytestmark = [browser_needed, pytest.mark.slow]


def test_the_stage_page_draws_its_charts_with_values_on_a_laptop_screen(
    browser, live_server, db_session
):
    user, workspace = make_owner(db_session)
    now = utcnow()
    for week in range(6):
        for rating, comment in ((5, "Lovely plants, quick delivery!"), (1, "Slow delivery, died.")):
            make_response(
                db_session,
                workspace,
                rating=rating,
                comment=comment,
                now=now - dt.timedelta(days=7 * week),
            )
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        log_in(page, live_server, user.email, PASSWORD)
        page.click("text=Purchase decision")
        page.wait_for_url("**/stages/purchase**")
        charts = page.locator("svg.chart")
        assert charts.count() == 3
        for index in range(3):
            box = charts.nth(index).bounding_box()
            assert box is not None and box["width"] >= 400 and box["height"] >= 90
        # Values are written on the marks, and the chart reads out as an image with a name.
        assert charts.nth(0).get_attribute("role") == "img"
        values = charts.nth(0).locator("text").all_text_contents()
        assert "+1.00" in values and any(v.startswith(("+0.", "-0.")) for v in values)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        context.close()
