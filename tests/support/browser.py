"""A real Chromium (Debian's package), and how a test uses it like a person would."""

from __future__ import annotations

import os
import shutil
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


def log_in(page: Any, base_url: str, email: str, password: str) -> None:
    """Log in through the login form, as an owner would, and land on the dashboard."""
    page.goto(f"{base_url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard")


PHONE = {"width": 390, "height": 844}
