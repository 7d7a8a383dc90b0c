"""The loop that hands outbox emails to the SMTP server and POSTs webhook calls.

Two rules shape it, because one workspace's settings must never stop delivery
for the others:

- Every message stands alone: whatever goes wrong while preparing or sending
  one (a broken payload, a header that cannot be built, a URL that does not
  parse) makes that message retry or fail with its error, and nothing else.
- Emails and webhook calls travel in separate lanes (threads, each with its
  own database session): a receiver that never answers holds a webhook
  thread until its deadline, never an email.

`run_worker` also outlives the database: an error from it is logged (its
type only: statements and parameters may carry personal data), the session
is thrown away, and the lane tries again after a pause that doubles up to
`outage_backoff_max`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import queue
import smtplib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from feedback import metrics
from feedback.delivery import netguard, services, webhooks
from feedback.delivery.mailer import EmailBuildError, MailConnection, Mailer, build_email
from feedback.delivery.models import OutboxMessage
from feedback.extensions import db

logger = logging.getLogger(__name__)


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    def add(self, other: DeliveryReport) -> None:
        self.sent += other.sent
        self.retrying += other.retrying
        self.failed += other.failed

    def __bool__(self) -> bool:
        return bool(self.sent or self.retrying or self.failed)


@dataclass(frozen=True)
class DeliverySettings:
    mail_from: str
    retry_base_seconds: int
    max_attempts: int
    batch: int = 50
    # SMTP connections used at once; providers often allow a handful.
    connections: int = 2
    lease: dt.timedelta = services.DEFAULT_LEASE
    # Sends are recorded (committed) in groups of this many, or every 0.2 s:
    # a crash usually re-sends about one group, and the database is not asked
    # for a commit per email. The SMTP connections keep sending while a group
    # is committed, so the bound is the batch: a database that hangs on that
    # commit may see the whole batch go out unrecorded (bench/faults.py counts it).
    record_every: int = 20
    # Told about delivered messages (their `meta`s), in the same transaction
    # that records the sends; e.g. marks the invitations they carried as sent.
    on_sent: Callable[[Session, list[dict[str, Any]], dt.datetime], None] | None = None
    # Webhooks: where they may go (see netguard) and how long they may take.
    webhook_allow_private: bool = False
    webhook_resolver: netguard.Resolver = netguard.system_resolver
    webhook_connect_timeout: float = webhooks.CONNECT_TIMEOUT
    webhook_total_timeout: float = webhooks.TOTAL_TIMEOUT
    webhook_concurrency: int = 8
    # After a database error, a lane waits 1 s, then 2, 4... up to this.
    outage_backoff_max: float = 30.0


def _is_outage(error: BaseException) -> bool:
    """A lost or refused database connection (as opposed to a bad statement)."""
    return isinstance(error, OperationalError | InterfaceError)


class _Outcomes:
    """Records failures one by one, committing each at once."""

    def __init__(
        self, session: Session, settings: DeliverySettings, now: Callable[[], dt.datetime]
    ) -> None:
        self.session, self.settings, self.now = session, settings, now
        self.report = DeliveryReport()

    def failed(self, message_id: int, error: str, *, permanent: bool = False) -> None:
        message = self.session.get(OutboxMessage, message_id)
        if message is None:
            return
        services.mark_failed(
            message,
            error,
            self.now(),
            retry_base_seconds=self.settings.retry_base_seconds,
            max_attempts=self.settings.max_attempts,
            permanent=permanent,
        )
        if message.status == "failed":
            self.report.failed += 1
        else:
            self.report.retrying += 1
        self.session.commit()


@dataclass(frozen=True)
class _Email:
    id: int
    payload: dict[str, Any]


def deliver_batch(
    session: Session,
    mailer: Mailer,
    settings: DeliverySettings,
    now: Callable[[], dt.datetime],
) -> DeliveryReport:
    """Claim one batch of due emails, deliver them, record the outcomes as they come.

    Sends are committed in small groups (`record_every`, or every 0.2 s) and
    failures at once, so a crash loses the knowledge that about one group
    (at most the batch) went out, which is then sent again: delivery is at
    least once, and messages are never dropped.
    """
    ids = services.claim_due(
        session, now(), limit=settings.batch, lease=settings.lease, kind="email"
    )
    session.commit()
    outcomes = _Outcomes(session, settings, now)
    if not ids:
        return outcomes.report
    # Plain rows: ORM objects would be expired and reloaded after every commit.
    rows = session.execute(
        select(OutboxMessage.id, OutboxMessage.payload)
        .where(OutboxMessage.id.in_(ids))
        .order_by(OutboxMessage.id)
    ).all()
    emails: list[_Email] = []
    for message_id, payload in rows:
        if isinstance(payload, dict):
            emails.append(_Email(message_id, payload))
        else:
            outcomes.failed(message_id, "failed: not an email message", permanent=True)

    sent: list[_Email] = []
    recorded_at = time.monotonic()

    def record_sent() -> None:
        nonlocal recorded_at
        if sent:
            _record_sent(session, sent, settings, now)
            outcomes.report.sent += len(sent)
            sent.clear()
        recorded_at = time.monotonic()

    for email, error, permanent in _send_emails(mailer, emails, settings):
        if error is not None:
            record_sent()
            outcomes.failed(email.id, error, permanent=permanent)
            continue
        sent.append(email)
        if len(sent) >= settings.record_every or time.monotonic() - recorded_at > 0.2:
            record_sent()
    record_sent()
    return outcomes.report


def _record_sent(
    session: Session,
    emails: list[_Email],
    settings: DeliverySettings,
    now: Callable[[], dt.datetime],
) -> None:
    """Record a group as sent (link-bearing parts dropped) and tell `on_sent`, in one
    transaction.

    Should `on_sent` fail for the group, each is recorded on its own, so one
    message's bad `meta` costs only its own follow-through; a lost database
    connection is left to the loop.
    """

    def record(group: list[_Email], *, tell: bool) -> None:
        services.relax_commit_durability(session)
        services.record_sent(
            session,
            [e.id for e in group],
            now(),
            payloads={
                e.id: services.stripped_payload(e.payload, "email", failed=False) for e in group
            },
        )
        if tell and settings.on_sent is not None:
            settings.on_sent(session, [e.payload.get("meta") or {} for e in group], now())
        session.commit()

    try:
        record(emails, tell=True)
        return
    except Exception as error:
        session.rollback()
        if _is_outage(error):
            raise
    for email in emails:
        try:
            record([email], tell=True)
        except Exception as error:
            session.rollback()
            if _is_outage(error):
                raise
            logger.error(
                "outbox message %s: sent, but its follow-up failed (%s)",
                email.id,
                type(error).__name__,
            )
            record([email], tell=False)


def _send_emails(
    mailer: Mailer, emails: list[_Email], settings: DeliverySettings
) -> Iterator[tuple[_Email, str | None, bool]]:
    """Send over `settings.connections` SMTP connections at once; yield
    (email, error, permanent) for each.

    While one connection waits for the server's reply, another builds and
    sends the next message. A message that cannot be built fails alone; a
    connection that breaks stops, and what no connection could send comes
    back with the last error, to be retried later.
    """
    todo: queue.SimpleQueue[_Email] = queue.SimpleQueue()
    for queued in emails:
        todo.put(queued)
    done: queue.SimpleQueue[tuple[_Email | None, str | None, bool]] = queue.SimpleQueue()

    def send_all(smtp: MailConnection) -> None:
        while True:
            try:
                email = todo.get_nowait()
            except queue.Empty:
                return
            try:
                message = build_email(email.payload, settings.mail_from)
            except EmailBuildError as error:
                done.put((email, str(error), True))
                continue
            except Exception as error:  # anything else about this one payload
                reason = f"failed: the email cannot be built ({type(error).__name__})"
                done.put((email, reason, True))
                continue
            try:
                smtp.send_message(message)
            except (
                smtplib.SMTPRecipientsRefused,
                smtplib.SMTPSenderRefused,
                smtplib.SMTPDataError,
                smtplib.SMTPNotSupportedError,
            ) as error:
                # The server refused this message; the connection is still good.
                done.put((email, f"refused: {error}", False))
            except (OSError, smtplib.SMTPException) as error:
                # This connection is gone; the message goes back in the queue.
                done.put((email, f"SMTP error: {error}", False))
                return
            except Exception as error:  # e.g. an encoding problem in this one message
                done.put((email, f"failed: {type(error).__name__}", False))
                try:
                    smtp.rset()  # the transaction may be half-open
                except (OSError, smtplib.SMTPException):
                    return
            else:
                done.put((email, None, False))

    def sender() -> None:
        error_text: str | None = None
        try:
            try:
                smtp = mailer.connect()
            except Exception as error:
                error_text = f"SMTP server unreachable: {error}"
                return
            try:
                send_all(smtp)
            finally:
                with contextlib.suppress(Exception):
                    smtp.quit()
                with contextlib.suppress(Exception):
                    smtp.close()
        except Exception as error:  # never leave the loop below waiting
            error_text = f"SMTP error: {type(error).__name__}"
        finally:
            done.put((None, error_text, False))

    threads = [
        threading.Thread(target=sender, daemon=True)
        for _ in range(min(settings.connections, len(emails)))
    ]
    for thread in threads:
        thread.start()
    running, last_error = len(threads), "SMTP error"
    while running:
        email, error, permanent = done.get()
        if email is None:
            running -= 1
            last_error = error or last_error
        else:
            yield email, error, permanent
    for thread in threads:
        thread.join()
    while not todo.empty():
        yield todo.get(), last_error, False


def deliver_webhook_batch(
    session: Session,
    settings: DeliverySettings,
    now: Callable[[], dt.datetime],
) -> DeliveryReport:
    """Claim one batch of due webhook calls and POST them, `webhook_concurrency` at once.

    Each call has a short connect timeout and a total deadline
    (`webhook_total_timeout`), and goes only where `netguard` allows.
    """
    ids = services.claim_due(
        session, now(), limit=settings.batch, lease=settings.lease, kind="webhook"
    )
    session.commit()
    outcomes = _Outcomes(session, settings, now)
    if not ids:
        return outcomes.report
    rows = session.execute(
        select(OutboxMessage.id, OutboxMessage.workspace_id, OutboxMessage.payload)
        .where(OutboxMessage.id.in_(ids))
        .order_by(OutboxMessage.id)
    ).all()
    calls: list[tuple[webhooks.WebhookCall, dict[str, Any]]] = []
    for message_id, workspace_id, payload in rows:
        try:
            call = webhooks.prepare_webhook(
                session,
                workspace_id,
                message_id,
                payload if isinstance(payload, dict) else {},
                now(),
            )
        except webhooks.WebhookNotDeliverable as error:
            outcomes.failed(message_id, str(error), permanent=True)
            continue
        except Exception as error:  # e.g. an id the database can't hold: this message only
            session.rollback()
            if _is_outage(error):
                raise
            outcomes.failed(message_id, "failed (not a webhook message)", permanent=True)
            continue
        if call is None:  # its endpoint was removed: nothing to deliver
            _record_webhook_sent(session, message_id, payload, now())
            outcomes.report.sent += 1
        else:
            calls.append((call, payload))

    def send(call: webhooks.WebhookCall) -> webhooks.WebhookOutcome:
        try:
            return webhooks.send_webhook(
                call,
                allow_private=settings.webhook_allow_private,
                resolver=settings.webhook_resolver,
                connect_timeout=settings.webhook_connect_timeout,
                total_timeout=settings.webhook_total_timeout,
            )
        except Exception as error:  # a bug must not take the lane down
            logger.error("webhook %s: unexpected %s", call.message_id, type(error).__name__)
            return webhooks.WebhookOutcome("failed (connection failed)")

    if not calls:
        return outcomes.report
    with ThreadPoolExecutor(
        max_workers=min(settings.webhook_concurrency, len(calls)),
        thread_name_prefix="webhook",
    ) as pool:
        futures = {pool.submit(send, call): (call, payload) for call, payload in calls}
        for future in as_completed(futures):
            call, payload = futures[future]
            outcome = future.result()
            if outcome.error is None:
                _record_webhook_sent(session, call.message_id, payload, now())
                outcomes.report.sent += 1
            else:
                outcomes.failed(call.message_id, outcome.error, permanent=outcome.permanent)
    return outcomes.report


def _record_webhook_sent(session: Session, message_id: int, payload: Any, now: dt.datetime) -> None:
    kept: dict[str, Any] = {}
    if isinstance(payload, dict):
        kept = services.stripped_payload(payload, "webhook", failed=False)
    services.record_sent(session, [message_id], now, payloads={message_id: kept})
    session.commit()


def deliver_due(
    session: Session,
    mailer: Mailer,
    settings: DeliverySettings,
    now: Callable[[], dt.datetime],
) -> DeliveryReport:
    """Send batches until nothing is due: the emails, then the webhook calls (`--once`)."""
    total = DeliveryReport()
    for kind, deliver in (
        ("email", lambda: deliver_batch(session, mailer, settings, now)),
        ("webhook", lambda: deliver_webhook_batch(session, settings, now)),
    ):
        while report := _observed(kind, deliver):
            total.add(report)
    return total


def _observed(kind: str, deliver: Callable[[], DeliveryReport]) -> DeliveryReport:
    """Run one batch; count its outcomes and log it as one line (when it did anything)."""
    started = time.perf_counter()
    report = deliver()
    if report:
        metrics.count_deliveries(kind, report.sent, report.retrying, report.failed)
        logger.info(
            "outbox batch",
            extra={
                "kind": kind,
                "sent": report.sent,
                "retrying": report.retrying,
                "failed": report.failed,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
    return report


Step = Callable[[Session], Any]


def default_worker_name() -> str:
    """host:pid, which tells the worker processes apart across machines."""
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


class Heartbeat:
    """What this worker process has done, written to `worker_heartbeat` as it runs,
    so the delivery page can tell whether any worker is sending."""

    def __init__(self, started_at: dt.datetime, name: str | None = None) -> None:
        self.name = name or default_worker_name()
        self.started_at = started_at
        self.messages = DeliveryReport()
        self.last_sent_at: dt.datetime | None = None
        self._written_at: float | None = None
        self._lock = threading.Lock()  # both lanes count

    def count(self, report: DeliveryReport, now: dt.datetime) -> None:
        with self._lock:
            self.messages.add(report)
            if report.sent:
                self.last_sent_at = now

    def write(self, session: Session, now: dt.datetime, *, force: bool = False) -> None:
        """Upsert and commit; at most every `HEARTBEAT_EVERY` unless forced (a commit
        every round of a busy worker would cost more than it tells)."""
        every = services.HEARTBEAT_EVERY.total_seconds()
        recent = self._written_at is not None and time.monotonic() - self._written_at < every
        if recent and not force:
            return
        with self._lock:
            sent, failed, last_sent_at = self.messages.sent, self.messages.failed, self.last_sent_at
        services.record_heartbeat(
            session,
            self.name,
            now,
            started_at=self.started_at,
            messages_sent=sent,
            messages_failed=failed,
            last_sent_at=last_sent_at,
        )
        session.commit()
        self._written_at = time.monotonic()


def run_worker(
    app: Flask,
    mailer: Mailer,
    settings: DeliverySettings,
    now: Callable[[], dt.datetime],
    *,
    interval: float = 2.0,
    housekeeping: Step | None = None,
    on_report: Callable[[str, DeliveryReport], None] | None = None,
    stop: threading.Event | None = None,
    heartbeat: Heartbeat | None = None,
) -> None:
    """Deliver until `stop` is set: emails (then `housekeeping`) in this thread,
    webhook calls in a thread of their own. Each round of the email lane starts
    with the `heartbeat`."""
    stop = stop or threading.Event()
    heartbeat = heartbeat or Heartbeat(now())

    def beat(session: Session) -> int:
        heartbeat.write(session, now())
        return 0  # not work: an idle worker still sleeps between rounds

    def deliver_emails(session: Session) -> DeliveryReport:
        report = _observed("email", lambda: deliver_batch(session, mailer, settings, now))
        heartbeat.count(report, now())
        if report and on_report is not None:
            on_report("email", report)
        return report

    def deliver_webhooks(session: Session) -> DeliveryReport:
        report = _observed("webhook", lambda: deliver_webhook_batch(session, settings, now))
        heartbeat.count(report, now())
        if report and on_report is not None:
            on_report("webhook", report)
        return report

    webhook_lane = threading.Thread(
        target=_run_lane,
        args=(app, "webhooks", [deliver_webhooks], interval, settings, stop),
        name="outbox-webhooks",
        daemon=True,
    )
    webhook_lane.start()
    email_steps: list[Step] = [beat, deliver_emails]
    if housekeeping is not None:
        email_steps.append(housekeeping)
    try:
        _run_lane(app, "emails", email_steps, interval, settings, stop)
    finally:
        stop.set()
        webhook_lane.join()


def _run_lane(
    app: Flask,
    lane: str,
    steps: list[Step],
    interval: float,
    settings: DeliverySettings,
    stop: threading.Event,
) -> None:
    """Run `steps` over and over; sleep `interval` when none had work; survive errors."""
    with app.app_context():
        pause = 0.0
        while not stop.is_set():
            busy = trouble = False
            for step in steps:
                try:
                    busy = bool(step(db.session)) or busy
                except SQLAlchemyError as error:
                    # Only the type: the message holds the statement and its parameters.
                    trouble = True
                    pause = min(max(pause * 2, 1.0), settings.outage_backoff_max)
                    logger.warning(
                        "outbox %s: database error (%s); trying again in %.0f s",
                        lane,
                        type(error).__name__,
                        pause,
                    )
                    with contextlib.suppress(Exception):
                        db.session.remove()  # a new session and connection next time
                    break
                except Exception as error:
                    # A bug in one step: log it and go on with the others (no
                    # message is lost: a claimed one is claimed again after its lease).
                    logger.error("outbox %s: unexpected %s", lane, type(error).__name__)
                    with contextlib.suppress(Exception):
                        db.session.rollback()
            if trouble:
                stop.wait(pause)
                continue
            pause = 0.0
            if not busy:
                stop.wait(interval)
