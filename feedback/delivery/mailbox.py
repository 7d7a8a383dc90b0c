"""A local mailbox for development: the worker writes each email as an `.eml`
file into a folder instead of handing it to SMTP, and the owner reads them in
the app (delivery → Mailbox).

Development only (`FEEDBACK_ENV=development` without `SMTP_URL`): in
production the worker refuses to start without `SMTP_URL`, and the mailbox
pages answer 404. Files are written whole (a temporary name, then a rename),
so a reader never sees half a message.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import os
import re
import secrets
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.utils import parsedate_to_datetime
from pathlib import Path

# The only names the mailbox writes, and so the only ones it opens: a path
# from the URL that is not exactly one of these is never joined to the folder.
MESSAGE_NAME = re.compile(r"\d{8}T\d{12}Z-[0-9a-f]{16}\.eml")
# More than a demo ever collects; the list shows the newest ones.
LIST_LIMIT = 200


@dataclass(frozen=True)
class MailboxConnection:
    """What the worker's sender threads use in place of an SMTP connection."""

    folder: Path

    def send_message(self, message: Message) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        # The time first, so names sort oldest to newest; random bits so two
        # sender threads never pick the same name.
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        name = f"{stamp}-{secrets.token_hex(8)}.eml"
        partial = self.folder / f".{name}.partial"
        partial.write_bytes(message.as_bytes())
        os.replace(partial, self.folder / name)

    def rset(self) -> None:
        """Nothing is half-sent between messages."""

    def quit(self) -> None:
        """Nothing to hang up."""

    def close(self) -> None:
        """Nothing to close."""


@dataclass(frozen=True)
class MailboxMailer:
    """Has `SmtpMailer`'s interface; "connecting" opens the folder."""

    folder: Path

    def connect(self) -> MailboxConnection:
        return MailboxConnection(self.folder)


@dataclass(frozen=True)
class MailboxEntry:
    name: str
    to: str
    subject: str
    date: dt.datetime | None


@dataclass(frozen=True)
class MailboxMessage:
    name: str
    headers: list[tuple[str, str]]
    html: str | None
    text: str | None


# The headers a person checks in an email: who, what, when, and how to leave.
SHOWN_HEADERS = ("From", "To", "Subject", "Date", "List-Unsubscribe", "List-Unsubscribe-Post")


def _names(folder: Path) -> list[str]:
    try:
        return sorted((n for n in os.listdir(folder) if MESSAGE_NAME.fullmatch(n)), reverse=True)
    except FileNotFoundError:
        return []


def _parse(folder: Path, name: str) -> EmailMessage:
    with open(folder / name, "rb") as file:
        message = email.message_from_binary_file(file, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _date(message: EmailMessage) -> dt.datetime | None:
    try:
        return parsedate_to_datetime(str(message["Date"]))
    except (TypeError, ValueError):
        return None


def list_messages(folder: Path, limit: int = LIST_LIMIT) -> list[MailboxEntry]:
    """The newest messages first."""
    entries = []
    for name in _names(folder)[:limit]:
        message = _parse(folder, name)
        entries.append(
            MailboxEntry(
                name=name,
                to=str(message["To"] or ""),
                subject=str(message["Subject"] or ""),
                date=_date(message),
            )
        )
    return entries


def read_message(folder: Path, name: str) -> MailboxMessage | None:
    """One message by its file name; None unless `name` is a message in the folder."""
    if not MESSAGE_NAME.fullmatch(name) or name not in _names(folder):
        return None
    message = _parse(folder, name)
    html = message.get_body(preferencelist=("html",))
    text = message.get_body(preferencelist=("plain",))
    return MailboxMessage(
        name=name,
        headers=[(h, str(message[h])) for h in SHOWN_HEADERS if message[h] is not None],
        html=html.get_content() if html is not None else None,
        text=text.get_content() if text is not None else None,
    )


_HEAD = re.compile(r"<head\b[^>]*>", re.IGNORECASE)


def framed_html(html: str) -> str:
    """The email's HTML for a sandboxed frame, its links opening in the whole tab.

    A link followed inside the frame would load our own page into a frame,
    which our pages refuse (frame-ancestors 'none'); `<base target="_top">`
    sends every link to the tab instead, as a mail client's does.
    """
    base = '<base target="_top">'
    match = _HEAD.search(html)
    if match is None:
        return base + html
    return html[: match.end()] + base + html[match.end() :]
