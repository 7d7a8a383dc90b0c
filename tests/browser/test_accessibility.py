"""axe-core (the rules behind Lighthouse and most audits) finds nothing on any page, on a phone.

Customers answer on a phone, often with assistive technology; owners read the
journey there too. Every customer page of the survey flow, the public wall and
widget, the login pages and every owner page are checked with all of axe's
rules (WCAG 2 A/AA and best practices). axe itself needs JavaScript (its checks
wait on timers), so these pages run with it on; they use none of their own
(tests/browser/test_survey_form.py answers with it off).
"""

from __future__ import annotations

from typing import Any

import pytest

from feedback.db import utcnow
from tests.factories import PASSWORD, approved, make_invitation, make_owner, owner_with_every_page
from tests.support.browser import PHONE, browser_needed, log_in

pytestmark = [browser_needed, pytest.mark.slow]


def violations(page: Any) -> list[tuple[str, str, list[str]]]:
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in found]


def test_customer_pages_pass_axe_on_a_phone(browser, live_server, db_session):
    _user, workspace = make_owner(db_session)
    approved(db_session, workspace, "The fern arrived healthy and well packed.", featured=True)
    link = make_invitation(db_session, workspace, now=utcnow())
    context = browser.new_context(viewport=PHONE, has_touch=True)
    page = context.new_page()
    found = {}
    try:
        page.goto(f"{live_server}/s/{link.token}")
        found["survey form"] = violations(page)
        page.click("button[type=submit]")  # nothing chosen: the form comes back with errors
        found["survey form with errors"] = violations(page)
        page.click("label[for=rating-5]")
        page.fill("textarea", "Quick and careful.")
        page.click("label[for=testimonial_opt_in]")
        page.click("button[type=submit]")
        page.wait_for_url("**/thanks")
        found["thanks"] = violations(page)
        page.click("text=See or withdraw your consent")
        found["consent"] = violations(page)
        for name, path in (
            ("open link", f"/f/{workspace.slug}/purchase"),
            ("wall", f"/t/{workspace.slug}"),
            ("widget", f"/t/{workspace.slug}/embed"),
            ("answered link", f"/s/{link.token}"),
            ("unknown link", "/s/not-a-real-token"),
            ("login", "/login"),
            ("forgot password", "/password/forgot"),
            ("dead password link", "/password/set/nope"),
        ):
            page.goto(f"{live_server}{path}")
            found[name] = violations(page)
    finally:
        context.close()
    assert {name: v for name, v in found.items() if v} == {}
    assert len(found) == 12


def test_owner_pages_pass_axe_on_a_phone(browser, live_server, db_session):
    user, paths = owner_with_every_page(db_session)
    context = browser.new_context(viewport=PHONE, has_touch=True)
    page = context.new_page()
    found = {}
    try:
        log_in(page, live_server, user.email, PASSWORD)
        for path in paths:
            page.goto(f"{live_server}{path}")
            found[path] = violations(page)
    finally:
        context.close()
    assert {path: v for path, v in found.items() if v} == {}
