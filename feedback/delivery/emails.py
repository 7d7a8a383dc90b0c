"""What an email is, and every email the service sends built one way from its folder.

An email is a folder, `templates/email/<name>/`, holding `subject.txt`,
`text.txt` and, when it has one, `html.html`; `compose` renders them with the
caller's data and sets what every email needs here alone: the subject on one
line, the sender, the Message-ID's domain, List-Unsubscribe. A new email is a
folder and a call; the outbox (`delivery.services`) queues what it returns.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from flask import current_app
from jinja2 import TemplateNotFound

from feedback.delivery.addresses import sender

SUBJECT_MAX = 200
# Folder names are written in code, never taken from a request.
_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def new_message_id(domain: str) -> str:
    """A globally unique, stable Message-ID; kept in the payload so a resend reuses it."""
    return f"<{secrets.token_hex(16)}@{domain}>"


@dataclass(frozen=True)
class Email:
    """An email to put in the outbox."""

    to: str
    subject: str
    text: str
    html: str | None = None
    headers: dict[str, str] | None = None
    sender: str | None = None
    message_domain: str = "feedback.invalid"
    dedupe_key: str | None = None
    # Travels with the message for whoever handles its outcome (e.g. the
    # invitation it delivers).
    meta: dict[str, Any] | None = None
    # Whether the text, HTML or headers may carry a link with a secret in it
    # (survey, consent, password-set, unsubscribe). Such parts are dropped
    # once the email is sent or gives up; an email without any (`links=False`)
    # keeps them when it gives up, so an owner's Retry sends it as it was.
    links: bool = True
    # What a link-bearing email was made from, never a token: e.g.
    # {"email": "invitation", "invitation_id": 7}. A Retry after it gave up
    # makes it again, with a fresh link (see REMAKERS).
    remake: dict[str, Any] | None = None

    def payload(self) -> dict[str, Any]:
        payload = {
            "to": self.to,
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "headers": self.headers or {},
            "from": self.sender,
            "message_id": new_message_id(self.message_domain),
            "meta": self.meta or {},
            "links": self.links,
        }
        if self.remake is not None:
            payload["remake"] = self.remake
        return payload


class UnknownEmail(LookupError):
    """No folder under templates/email/ by this name (or it lacks subject.txt or text.txt)."""


class Business(Protocol):
    """Whose name an email goes out in: a workspace, as an ORM object or a survey link's copy."""

    name: str
    sender_name: str | None
    sender_address: str | None


def compose(
    name: str,
    *,
    to: str,
    data: Mapping[str, Any],
    base_url: str | None,
    sent_as: Business | None = None,
    unsubscribe: str | None = None,
    dedupe_key: str | None = None,
    meta: dict[str, Any] | None = None,
    links: bool = True,
    remake: dict[str, Any] | None = None,
) -> Email:
    """The email `templates/email/<name>/` makes from `data`, ready for the outbox.

    `sent_as`: the business whose sender settings make the From: line (emails
    to its customers); None sends from MAIL_FROM (the service's own emails to
    owners and members). `base_url`'s host is the Message-ID's domain.
    `unsubscribe`, a contact's one-click unsubscribe link, becomes
    List-Unsubscribe and List-Unsubscribe-Post (RFC 8058). The rest goes to
    the outbox as `Email` describes it. Raises UnknownEmail for a name without
    a folder.
    """
    from_line = None
    if sent_as is not None:
        from_line = sender(sent_as.sender_name, sent_as.sender_address, sent_as.name)
    headers = None
    if unsubscribe is not None:
        headers = {
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
    return Email(
        to=to,
        subject=_one_line(_render(name, "subject.txt", data))[:SUBJECT_MAX],
        text=_render(name, "text.txt", data),
        html=_render_html(name, data),
        headers=headers,
        sender=from_line,
        message_domain=urlsplit(base_url or "").hostname or "feedback.invalid",
        dedupe_key=dedupe_key,
        meta=meta,
        links=links,
        remake=remake,
    )


def _render(name: str, part: str, data: Mapping[str, Any]) -> str:
    if not _NAME.fullmatch(name):
        raise UnknownEmail(name)
    try:
        # The template alone, without the request context processors: most
        # emails are made with no request (the worker, the CLI), and a batch
        # renders thousands.
        template = current_app.jinja_env.get_template(f"email/{name}/{part}")
    except TemplateNotFound:
        raise UnknownEmail(name) from None
    return template.render(data)


def _render_html(name: str, data: Mapping[str, Any]) -> str | None:
    try:
        return _render(name, "html.html", data)
    except UnknownEmail:  # a plain-text email
        return None


def _one_line(subject: str) -> str:
    # A line break in a header would start another (the mailer guards too);
    # the subject template's trailing newline and indentation go with it.
    return " ".join(subject.split())
