"""Reading what pages show, as a browser would get it."""

from __future__ import annotations

import re
from typing import Protocol


class HasText(Protocol):
    def get_data(self, as_text: bool) -> str: ...


def csrf_token_from(response: HasText | str) -> str:
    """The CSRF token of the first form on a page."""
    text = response if isinstance(response, str) else response.get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', text) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', text
    )
    assert match, "no CSRF token on the page"
    return match.group(1)
