"""Sending email over SMTP, configured by one URL."""

from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from feedback.delivery.addresses import (
    AddressError,
    check_address,
    clean_display_name,
    has_control_characters,
)


class MailConnection(Protocol):
    """The part of `smtplib.SMTP` the worker uses."""

    def send_message(self, msg: Message) -> object: ...
    def rset(self) -> object: ...
    def quit(self) -> object: ...
    def close(self) -> None: ...


class Mailer(Protocol):
    """Where the worker's emails go: `SmtpMailer`, or in development `MailboxMailer`."""

    def connect(self) -> MailConnection: ...


class MailerConfigError(ValueError):
    """SMTP_URL cannot be used; the message says why."""


@dataclass(frozen=True)
class SmtpMailer:
    """Delivers messages to one SMTP server, a new connection per batch."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    implicit_tls: bool = False
    timeout: float = 15.0

    @classmethod
    def from_url(cls, url: str) -> SmtpMailer:
        """`smtp://user:pass@host:port` (STARTTLS if offered) or `smtps://...` (TLS)."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise MailerConfigError(
                f"SMTP_URL must look like smtp://user:pass@host:port, not {url!r}"
            )
        implicit_tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if implicit_tls else 25),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=implicit_tls,
        )

    def connect(self) -> smtplib.SMTP:
        """An open, logged-in connection; the caller closes it (use it as a context manager)."""
        smtp: smtplib.SMTP
        # The TLS context (which reads the system's CA store) only when TLS is used.
        if self.implicit_tls:
            smtp = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
        if self.username:
            smtp.login(self.username, self.password or "")
        return smtp


class EmailBuildError(ValueError):
    """The payload cannot become an email (no valid recipient, a broken payload).

    Sending it again cannot help: the message is marked failed at once.
    """


# Header names an email payload may set besides the standard ones (RFC 5322 ftext).
_HEADER_NAME = re.compile(r"[!-9;-~]{1,76}")
_MESSAGE_ID = re.compile(r"<[^<>@\s]{1,200}@[^<>@\s]{1,200}>")
_RESERVED_HEADERS = {"from", "to", "subject", "date", "message-id", "cc", "bcc", "sender"}


def build_email(payload: dict[str, Any], mail_from: str) -> Message:
    """The message an outbox email payload describes: plain text, and HTML when given.

    Built with the email package's compat32 classes: they do not parse every
    header they are given, which makes a message about twice as cheap to build
    as with `EmailMessage`; the worker builds one per send. compat32 also
    checks nothing, so every header is made safe here: control characters go,
    the sender and recipient must be single valid addresses, and `Date:` and
    `Message-ID:` are always present. Raises EmailBuildError when the payload
    cannot make an email.
    """
    try:
        to = check_address(str(payload["to"]), dotted_domain=False)
        text_body = str(payload["text"])
        subject = _one_line(str(payload.get("subject") or ""))
    except (KeyError, AddressError) as error:
        raise EmailBuildError("failed: no valid recipient or text") from error
    text = MIMEText(text_body, "plain", "utf-8")
    message: Message
    if payload.get("html"):
        message = MIMEMultipart("alternative")
        message.attach(text)
        message.attach(MIMEText(str(payload["html"]), "html", "utf-8"))
    else:
        message = text
    message["From"] = _from(payload.get("from"), mail_from)
    message["To"] = to
    # A Header is what a compat32 message takes for an encoded value; typeshed allows str only.
    message["Subject"] = subject if subject.isascii() else Header(subject, "utf-8")  # type: ignore[assignment]
    # The time of this attempt: RFC 5322 requires one, and spam filters score its absence.
    message["Date"] = formatdate(usegmt=True)
    message_id = str(payload.get("message_id") or "")
    if not _MESSAGE_ID.fullmatch(message_id):
        message_id = make_msgid(domain=to.rsplit("@", 1)[-1])
    message["Message-ID"] = message_id
    headers = payload.get("headers") or {}
    if isinstance(headers, dict):
        for name, value in headers.items():
            name = str(name)
            if _HEADER_NAME.fullmatch(name) and name.lower() not in _RESERVED_HEADERS:
                message[name] = _one_line(str(value))
    return message


def _one_line(value: str) -> str:
    # CR, LF and other controls in a header value would start a new header.
    return clean_display_name(value) if has_control_characters(value) else value


def _from(value: Any, mail_from: str) -> str:
    """A safe From value: the payload's sender if it holds one valid address, else MAIL_FROM."""
    for candidate in (value, mail_from):
        if not candidate:
            continue
        name, address = parseaddr(_one_line(str(candidate)))
        try:
            address = check_address(address, dotted_domain=False)
        except AddressError:
            continue
        name = clean_display_name(name)
        if not name:
            return address
        # compat32 leaves headers as given: a non-ASCII display name must be encoded here.
        return formataddr((name, address), charset="utf-8")
    raise EmailBuildError("failed: no valid sender address (check MAIL_FROM)")
