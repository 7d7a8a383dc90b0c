"""The outbox worker's parts for tests: its settings, a clock a test moves, queued
emails, and the real worker loop in a thread."""

from __future__ import annotations

import datetime as dt
import threading
import time

from feedback.db import utcnow
from feedback.delivery import services
from feedback.delivery.worker import DeliverySettings, run_worker
from tests.factories import NOW

SETTINGS = DeliverySettings(
    mail_from="Shop <shop@example.com>", retry_base_seconds=60, max_attempts=3
)


class Clock:
    """The worker's clock, moved on by the test."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def enqueue(session, workspace, count=1):
    messages = [
        services.enqueue_email(
            session,
            workspace.id,
            to=f"customer{n}@example.com",
            subject=f"How was it? #{n}",
            text="Plain text part",
            html="<p>HTML part</p>",
            headers={"List-Unsubscribe": "<https://example.com/u/x>"},
            now=NOW,
        )
        for n in range(count)
    ]
    session.commit()
    return messages


def run_in_thread(app, mailer, settings, **options):
    stop = threading.Event()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            run_worker(app, mailer, settings, utcnow, stop=stop, **options)
        except BaseException as error:  # surfaced by the test
            errors.append(error)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return stop, thread, errors


def wait_for(condition, seconds: float) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not within {seconds} s")
        time.sleep(0.05)
    return time.monotonic() - started
