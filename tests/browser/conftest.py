"""A real Chromium (Debian's package) driven by Playwright.

The tests skip when no Chromium is installed, unless REQUIRE_BROWSER=1 (CI),
where a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = (
    os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
)
# Without the background-networking flags Chromium keeps trying to reach
# Google's hosts, which this sandbox's closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# Skipped, and said so, on a machine without Chromium; CI sets REQUIRE_BROWSER=1.
browser_needed = pytest.mark.skipif(
    CHROMIUM is None and os.environ.get("REQUIRE_BROWSER") != "1",
    reason="no chromium installed (apt-get install chromium): browser tests not run",
)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if CHROMIUM is None:
        pytest.fail("REQUIRE_BROWSER=1 but no chromium is installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def log_in(page: Any, base_url: str, email: str, password: str) -> None:
    """Log in through the login form, as an owner would, and land on the dashboard."""
    page.goto(f"{base_url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard")


PHONE = {"width": 390, "height": 844}


def owner_with_every_page(session: Any) -> tuple[Any, list[str]]:
    """An owner whose workspace has something on every owner page; the user and those paths.

    The data is awkward on purpose: a long unbroken word, a long address.
    """
    from feedback.accounts.services import add_member, create_api_key
    from feedback.db import utcnow
    from feedback.journey.services import stages_in_order
    from tests.factories import make_owner, make_response

    user, workspace = make_owner(session)
    now = utcnow()
    unhappy = make_response(
        session,
        workspace,
        rating=1,
        comment="The pot arrived cracked and nobody answered my emails for a week. "
        "Anexceptionallylongwordwithoutanyspacesthatcouldpushthelayoutsideways.",
        now=now,
    )
    make_response(session, workspace, rating=5, opt_in=True, display_name="Priya K.", now=now)
    add_member(session, workspace, "a.rather.long.address.for.a.colleague@example.com", "member")
    create_api_key(session, workspace, "Shop orders", now, created_by=user)
    session.commit()
    stage = stages_in_order(session, workspace.id)[2]
    return user, [
        "/dashboard",
        f"/stages/{stage.key}",
        "/responses",
        f"/responses/{unhappy.id}",
        "/follow-ups",
        f"/follow-ups/{unhappy.id}",
        "/testimonials",
        "/settings",
        "/settings/journey",
        f"/settings/journey/{stage.id}",
        f"/settings/journey/{stage.id}/preview",
        "/settings/team",
        "/settings/links",
        "/settings/api-keys",
        "/settings/webhooks",
        "/settings/delivery",
        "/settings/testimonials",
        "/touchpoints/import",
        "/account",
        "/account/password",
    ]
