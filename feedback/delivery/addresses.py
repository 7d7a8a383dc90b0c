"""Sender names and addresses: what may go into an email header.

Owners type the sender name and address at /settings; both end up in the
`From:` header of every survey email. A line break there would let one owner
add headers (or break the SMTP conversation for everyone), so the settings
refuse control characters and the mailer removes any that an older row
still holds.
"""

from __future__ import annotations

import re
import unicodedata
from email.utils import formataddr

NAME_MAX = 80
ADDRESS_MAX = 254
# RFC 5322 dot-atom local part (unquoted), at most 64 characters.
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_DOMAIN_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


class AddressError(ValueError):
    """Not a usable email address or name; the message says why."""


def has_control_characters(text: str) -> bool:
    """Line breaks, NUL, other C0/C1 controls, format characters (Cf) and line separators."""
    return any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in text)


def clean_display_name(name: str | None) -> str:
    """`name` without control characters, whitespace runs made one space, at most 80 chars."""
    if not name:
        return ""
    kept = "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in name)
    return " ".join(kept.split())[:NAME_MAX]


def check_display_name(name: str) -> str:
    """The name as stored; AddressError for control characters or over 80 characters."""
    if has_control_characters(name):
        raise AddressError("No line breaks or other control characters in the sender name.")
    name = " ".join(name.split())
    if len(name) > NAME_MAX:
        raise AddressError(f"At most {NAME_MAX} characters.")
    return name


def check_address(address: str, *, dotted_domain: bool = True) -> str:
    """A plain `local@domain` address, domain lowercased; AddressError when it is not one.

    Deliberately strict: an unquoted ASCII local part and a domain of at least
    two labels (an internationalised domain is accepted in its IDNA form).
    `dotted_domain=False` also takes one label (`feedback@localhost`, the
    default MAIL_FROM), for addresses the installation itself configured.
    """
    if (
        has_control_characters(address)
        or any(c.isspace() for c in address)
        or len(address) > ADDRESS_MAX
        or address.count("@") != 1
    ):
        raise AddressError(f"{address!r} is not an email address.")
    local, domain = address.split("@")
    if len(local) > 64 or not _LOCAL_PART.fullmatch(local):
        raise AddressError(f"{address!r} is not an email address.")
    try:
        domain = domain.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError as error:
        raise AddressError(f"{address!r} is not an email address.") from error
    labels = domain.split(".")
    if (
        (dotted_domain and len(labels) < 2)
        or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels)
        or (len(labels) > 1 and labels[-1].isdigit())
    ):
        raise AddressError(f"{address!r} is not an email address.")
    return f"{local}@{domain}"


def sender(name: str | None, address: str | None, business_name: str) -> str | None:
    """The `From:` value for a workspace's emails, or None to use the installation's MAIL_FROM.

    An empty name falls back to the business's name (never the word "None").
    """
    if not address:
        return None
    try:
        address = check_address(address)
    except AddressError:
        return None  # a bad value from before the settings were checked: use MAIL_FROM
    shown = clean_display_name(name) or clean_display_name(business_name)
    return formataddr((shown, address), charset="utf-8") if shown else address
