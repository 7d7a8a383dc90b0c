"""Working through import jobs: one committed transaction per batch (see `surveys.imports`).

Three things run jobs, all through `run_import_job`: a thread the upload starts
in the web process (so `make run`, which starts only gunicorn, imports too),
`flask feedback worker` (which finishes any job a stopped web process left),
and `flask feedback import-touchpoints` (in the foreground). The import page
restarts a job that has stopped moving. They may overlap: batches take turns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from feedback import metrics
from feedback.db import utcnow
from feedback.extensions import db
from feedback.surveys import imports
from feedback.surveys.models import ImportJob

log = logging.getLogger(__name__)

# A pending job not updated for this long has no live thread working on it.
STALLED_AFTER_SECONDS = 30.0


@dataclass(frozen=True)
class ImportSettings:
    base_url: str
    secret_key: str
    batch_size: int = imports.IMPORT_JOB_BATCH
    max_attempts: int = imports.IMPORT_MAX_ATTEMPTS

    @classmethod
    def of(cls, app: Flask) -> ImportSettings:
        return cls(base_url=app.config["BASE_URL"], secret_key=app.config["SECRET_KEY"])


def run_one_batch(session: Session, job_id: int, settings: ImportSettings) -> ImportJob | None:
    """One batch, committed; a failure is rolled back, counted and committed instead."""
    try:
        recorded_before = session.scalar(select(ImportJob.recorded).where(ImportJob.id == job_id))
        job = imports.run_import_batch(
            session,
            job_id,
            now=utcnow(),
            base_url=settings.base_url,
            secret_key=settings.secret_key,
            batch_size=settings.batch_size,
        )
        session.commit()
        if job is not None and recorded_before is not None:
            metrics.INVITATIONS_CREATED.labels(source="import").inc(job.recorded - recorded_before)
        if job is not None and job.state == "pending":
            _keep_statistics_current(session, job.done_rows // settings.batch_size)
        return job
    # Whatever went wrong (a database error, a bug), the batch is undone and
    # the job notes it: a thread or worker that died here would leave the job
    # pending forever with nobody knowing why.
    except Exception as error:
        session.rollback()
        # The class name only: SQL errors quote the row values (emails).
        log.warning("import job %s: a batch failed (%s)", job_id, type(error).__name__)
        job = imports.note_failed_batch(
            session,
            job_id,
            error=type(error).__name__,
            now=utcnow(),
            max_attempts=settings.max_attempts,
        )
        session.commit()
        return job


def _keep_statistics_current(session: Session, batches_done: int) -> None:
    """On PostgreSQL, ANALYZE the tables a job grows after batch 1, 2, 4, 8, ...

    A large import into small tables grows them many times over long before
    autovacuum looks (once a minute); until then the planner (and the cached
    plans of the foreign-key checks) take them for empty, and each batch is
    slower than the one before: 55,000 rows into a new workspace took 130 s
    instead of about 40. ANALYZE samples at most 30,000 rows: a fraction of a
    second, a handful of times per job.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    if batches_done < 1 or batches_done & (batches_done - 1):
        return
    session.execute(text("ANALYZE contact, invitation, outbox_message"))
    session.commit()


def run_import_job(
    session: Session,
    job_id: int,
    settings: ImportSettings,
    *,
    pause: Callable[[float], None] = time.sleep,
    deadline: float | None = None,
) -> ImportJob | None:
    """Batches until the job is finished or failed (or `time.monotonic()` passes `deadline`)."""
    while True:
        job = run_one_batch(session, job_id, settings)
        if job is None or job.state != "pending":
            return job
        if deadline is not None and time.monotonic() >= deadline:
            return job
        if job.failed_attempts:
            pause(float(job.failed_attempts))  # a moment for a passing problem to pass


def run_pending_imports(session: Session, settings: ImportSettings, seconds: float) -> int:
    """Work on every pending job for about `seconds` at most; how many are still pending."""
    deadline = time.monotonic() + seconds
    pending = imports.pending_job_ids(session)
    session.commit()
    left = 0
    for job_id in pending:
        if time.monotonic() >= deadline:
            left += 1
            continue
        job = run_import_job(session, job_id, settings, deadline=deadline)
        if job is not None and job.state == "pending":
            left += 1
    return left


_threads: dict[tuple[int, int], threading.Thread] = {}
_threads_lock = threading.Lock()


def start_in_background(app: Flask, job_id: int) -> bool:
    """Work on the job in a thread of this process, unless one already does; True if started."""
    key = (id(app), job_id)
    with _threads_lock:
        running = _threads.get(key)
        if running is not None and running.is_alive():
            return False
        thread = threading.Thread(
            target=_run_in_thread, args=(app, job_id), name=f"import-job-{job_id}", daemon=True
        )
        _threads[key] = thread
        thread.start()
        return True


def _run_in_thread(app: Flask, job_id: int) -> None:
    with app.app_context():
        try:
            run_import_job(db.session, job_id, ImportSettings.of(app))
        # E.g. the database is down: the worker or the job's page resume it later.
        except Exception as error:
            log.warning("import job %s: stopped (%s)", job_id, type(error).__name__)
        finally:
            db.session.remove()


def wait_for_background_imports(timeout: float = 120.0) -> None:
    """Until every import thread of this process has ended (tests, orderly shutdown)."""
    deadline = time.monotonic() + timeout
    with _threads_lock:
        threads = list(_threads.values())
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


def is_stalled(job: ImportJob) -> bool:
    age = (utcnow() - job.updated_at).total_seconds()
    return job.state == "pending" and age > STALLED_AFTER_SECONDS
