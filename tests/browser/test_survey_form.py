"""The customer form in a real browser on a phone-sized screen, JavaScript off."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from feedback.db import utcnow
from feedback.surveys.models import Response
from feedback.testimonials.models import Testimonial
from tests.factories import make_invitation, make_workspace
from tests.support.browser import browser_needed

pytestmark = [browser_needed, pytest.mark.slow]


def phone_page(browser):
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, java_script_enabled=False, has_touch=True
    )
    return context, context.new_page()


def test_a_customer_answers_with_the_keyboard_alone(browser, live_server, db_session):
    workspace = make_workspace(db_session, "Greenleaf Plants")
    link = make_invitation(
        db_session, workspace, stage="advocacy", touchpoint="renewal", now=utcnow()
    )
    context, page = phone_page(browser)
    try:
        page.goto(f"{live_server}/s/{link.token}")
        page.keyboard.press("Tab")  # into the rating group, on 0
        for _ in range(9):
            page.keyboard.press("ArrowRight")
        assert page.evaluate("document.activeElement.id") == "rating-9"
        page.keyboard.press("Tab")
        page.keyboard.type("Friendly staff, healthy plants.")
        page.keyboard.press("Tab")
        page.keyboard.press("Space")  # "You may quote me"
        page.keyboard.press("Tab")
        page.keyboard.type("Maria K.")
        page.keyboard.press("Enter")
        page.wait_for_url(f"**/s/{link.token}/thanks")
        assert "Thank you for telling us whether you would recommend us." in page.content()
    finally:
        context.close()
    response = db_session.scalar(select(Response))
    assert (response.rating, response.comment) == (9, "Friendly staff, healthy plants.")
    assert db_session.scalar(select(Testimonial.display_name)) == "Maria K."


def test_every_control_is_at_least_44_px_and_nothing_scrolls_sideways(
    browser, live_server, db_session
):
    workspace = make_workspace(db_session)
    link = make_invitation(
        db_session, workspace, stage="advocacy", touchpoint="renewal", now=utcnow()
    )
    context, page = phone_page(browser)
    try:
        page.goto(f"{live_server}/s/{link.token}")
        targets = page.locator(".scale label, textarea, input[type=text], button, label.check")
        assert targets.count() == 11 + 7
        for index in range(targets.count()):
            box = targets.nth(index).bounding_box()
            assert box is not None and box["height"] >= 44 and box["width"] >= 44, box
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
    finally:
        context.close()


def test_a_mistake_is_shown_next_to_the_field_and_keeps_the_text(browser, live_server, db_session):
    workspace = make_workspace(db_session)
    link = make_invitation(db_session, workspace, now=utcnow())
    context, page = phone_page(browser)
    try:
        page.goto(f"{live_server}/s/{link.token}")
        page.fill("#comment", "Pot arrived cracked <b>again</b>")
        page.click("button[type=submit]")
        assert page.locator("#rating-error").inner_text() == "Please choose a rating from 1 to 5."
        assert page.input_value("#comment") == "Pot arrived cracked <b>again</b>"
        page.click("label[for=rating-2]")
        page.click("button[type=submit]")
        page.wait_for_url("**/thanks")
        assert "will get back to you" in page.content()
    finally:
        context.close()


def test_a_customer_opts_in_with_role_and_channel_then_withdraws_from_the_thanks_page(
    browser, live_server, db_session
):
    workspace = make_workspace(db_session)
    link = make_invitation(db_session, workspace, now=utcnow())
    context, page = phone_page(browser)
    try:
        page.goto(f"{live_server}/s/{link.token}")
        targets = page.locator("#display_role, label[for=channel-social], label[for=channel-print]")
        assert targets.count() == 3
        for index in range(targets.count()):
            box = targets.nth(index).bounding_box()
            assert box is not None and box["height"] >= 44 and box["width"] >= 44, box
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        page.click("label[for=rating-5]")
        page.fill("textarea", "The fern arrived healthy and well packed.")
        page.click("label[for=testimonial_opt_in]")
        page.fill("#display_name", "Maria K.")
        page.fill("#display_role", "Owner, Fern & Co")
        page.click("label[for=channel-social]")
        page.click("button[type=submit]")
        page.wait_for_url("**/thanks")
        page.click("text=See or withdraw your consent")
        assert "Owner, Fern &amp; Co" in page.content()
        page.click("button:has-text('Withdraw my consent')")
        assert "You withdrew your consent" in page.content()
    finally:
        context.close()
    db_session.expire_all()
    testimonial = db_session.scalar(select(Testimonial))
    assert testimonial is not None
    assert (testimonial.display_role, testimonial.channels) == (
        "Owner, Fern & Co",
        "website social",
    )
    assert testimonial.withdrawn_at is not None
