"""Sending email over SMTP, configured by one URL."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, parseaddr
from typing import Any
from urllib.parse import unquote, urlsplit


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


def build_email(payload: dict[str, Any], mail_from: str) -> Message:
    """The message an outbox email payload describes: plain text, and HTML when given.

    Built with the email package's compat32 classes: they do not parse every
    header they are given, which makes a message about twice as cheap to build
    as with `EmailMessage`; the worker builds one per send.
    """
    text = MIMEText(payload["text"], "plain", "utf-8")
    message: Message
    if payload.get("html"):
        message = MIMEMultipart("alternative")
        message.attach(text)
        message.attach(MIMEText(payload["html"], "html", "utf-8"))
    else:
        message = text
    message["From"] = _address(payload.get("from") or mail_from)
    message["To"] = payload["to"]
    subject = payload["subject"]
    message["Subject"] = subject if subject.isascii() else Header(subject, "utf-8")
    message["Message-ID"] = payload["message_id"]
    for name, value in (payload.get("headers") or {}).items():
        message[name] = value
    return message


def _address(value: str) -> str:
    # compat32 leaves headers as given: a non-ASCII display name must be encoded here.
    if value.isascii():
        return value
    name, address = parseaddr(value)
    return formataddr((name, address), charset="utf-8")
