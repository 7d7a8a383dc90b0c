"""Cleaning free text typed by people, and slugs made from names."""

from __future__ import annotations

import re
import unicodedata

# C0 and C1 control characters except tab and newline, plus DEL. NUL in
# particular is refused by PostgreSQL text columns.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_text(value: str | None, *, multiline: bool) -> str | None:
    """NFC-normalised, control characters removed, trimmed; None when nothing is left.

    Line breaks are kept in multi-line text (as `\\n`) and folded to spaces
    otherwise. HTML is kept as typed: it is escaped wherever it is shown.
    """
    if value is None:
        return None
    text = unicodedata.normalize("NFC", value).replace("\r\n", "\n").replace("\r", "\n")
    if not multiline:
        text = " ".join(text.split())
    text = _CONTROL.sub("", text).strip()
    return text or None


# Every control character, tab and newline included: none belongs in an id.
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def refuse_control_characters(value: str | None) -> str | None:
    """An identifier (event id, external id) as given; ValueError if it holds a control character.

    Unlike free text (cleaned by `clean_text`), an id is matched exactly
    later, so changing it would make it another id; and PostgreSQL cannot
    store a NUL.
    """
    if value is not None and _ANY_CONTROL.search(value):
        raise ValueError("must not contain control characters (such as NUL, tab or newline)")
    return value


def slug_of(name: str, *, limit: int) -> str:
    """Lowercase ASCII words joined by hyphens, at most `limit` characters: 'Café Öl' -> 'cafe-ol'.

    Empty when nothing of the name is left.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug[:limit].strip("-")
