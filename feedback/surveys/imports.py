"""CSV imports as jobs: stored when uploaded, then recorded one batch per transaction.

A large file can't be recorded inside one web request (55,000 rows take longer
than gunicorn's 30 s timeout), and a request killed midway left the owner with
a 500 and no idea what had been recorded. So the upload only reads the file and
stores its rows with an `ImportJob`; `run_import_batch` then records the next
batch of rows, adds the outcome to the job's counts and deletes those rows, all
in one transaction. A batch that fails leaves nothing behind, and everything
before it stays recorded and counted; running a batch again is always safe, so
any number of processes may work on a job (the job's row lock puts them in turn).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from feedback.accounts.models import Workspace
from feedback.db import lock_for_writing, workspace_scoped
from feedback.surveys import touchpoints
from feedback.surveys.models import IMPORT_REASON_MAX, ImportJob, ImportRejection, ImportRow

# Rows recorded per transaction: about half a second here, so other writers
# (on SQLite they wait for the one write lock) are never held up for long.
IMPORT_JOB_BATCH = touchpoints.IMPORT_BATCH
# Stored per INSERT when the file is uploaded.
_STORE_CHUNK = 5000
# A batch that fails this many times in a row ends the job as failed.
IMPORT_MAX_ATTEMPTS = 3
_CELLS = ("email", "name", "stage", "touchpoint", "event_id", "occurred_at")


def create_import_job(
    session: Session,
    workspace: Workspace,
    rows: Sequence[dict[str, str]],
    *,
    file_name: str,
    send: bool,
    now: dt.datetime,
) -> ImportJob:
    """A pending job holding the rows of a file read by `touchpoints.read_csv`."""
    job = ImportJob(
        workspace_id=workspace.id,
        file_name=(file_name or "upload.csv")[:120],
        send=send,
        state="pending",
        total_rows=len(rows),
        updated_at=now,
    )
    session.add(job)
    session.flush()
    for start in range(0, len(rows), _STORE_CHUNK):
        chunk = rows[start : start + _STORE_CHUNK]
        session.execute(
            insert(ImportRow.__table__),
            [
                {
                    "workspace_id": workspace.id,
                    "job_id": job.id,
                    "line": line,
                    **{cell: row.get(cell, "") for cell in _CELLS},
                }
                for line, row in enumerate(chunk, start=start + 2)
            ],
        )
    if not rows:
        _finish(job, "finished", now)
    return job


def _locked_job(session: Session, job_id: int) -> ImportJob | None:
    # On SQLite the write lock first, so two processes take turns instead of
    # one failing with "database is locked"; on PostgreSQL the job's row lock.
    lock_for_writing(session)
    return session.scalars(
        select(ImportJob)
        .where(ImportJob.id == job_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()


def run_import_batch(
    session: Session,
    job_id: int,
    *,
    now: dt.datetime,
    base_url: str,
    secret_key: str,
    batch_size: int = IMPORT_JOB_BATCH,
) -> ImportJob | None:
    """Record the job's next `batch_size` rows and count what became of them.

    Commits nothing: the caller commits once per batch, so the invitations, the
    counts and the deletion of the rows they came from go in together or not at
    all. A finished or failed job is returned unchanged.
    """
    job = _locked_job(session, job_id)
    if job is None or job.state != "pending":
        return job
    table = ImportRow.__table__
    rows = session.execute(
        select(table.c.id, table.c.line, *(table.c[cell] for cell in _CELLS))
        .where(table.c.job_id == job.id)
        .order_by(table.c.line)
        .limit(batch_size)
    ).all()
    if rows:
        workspace = session.get(Workspace, job.workspace_id)
        assert workspace is not None  # the job is deleted with its workspace
        report = touchpoints.import_lines(
            session,
            workspace,
            [(row.line, {cell: getattr(row, cell) for cell in _CELLS}) for row in rows],
            now=now,
            base_url=base_url,
            secret_key=secret_key,
            send=job.send,
        )
        statuses = [status for _, status in report.created]
        job.recorded += len(statuses)
        job.throttled += statuses.count("throttled")
        job.unsubscribed += statuses.count("unsubscribed")
        job.duplicates += len(report.duplicates)
        job.rejected += len(report.rejected)
        if report.rejected:
            session.execute(
                insert(ImportRejection.__table__),
                [
                    {
                        "workspace_id": job.workspace_id,
                        "job_id": job.id,
                        "line": line,
                        "reason": reason[:IMPORT_REASON_MAX],
                    }
                    for line, reason in report.rejected
                ],
            )
        session.execute(delete(table).where(table.c.id.in_([row.id for row in rows])))
    job.failed_attempts = 0
    job.last_error = None
    job.updated_at = now
    if len(rows) < batch_size or not _rows_left(session, job.id):
        _finish(job, "finished", now)
    return job


def note_failed_batch(
    session: Session,
    job_id: int,
    *,
    error: str,
    now: dt.datetime,
    max_attempts: int = IMPORT_MAX_ATTEMPTS,
) -> ImportJob | None:
    """Count a batch that failed (and was rolled back); the last allowed failure ends the job.

    `error` names the failure (an exception's class name, never its message,
    which can quote row values). A job that ends this way keeps what earlier
    batches recorded; the rows not recorded are counted, their first line kept,
    and the rows deleted: the owner uploads the file again, and the rows already
    imported are skipped by their event_id.
    """
    job = _locked_job(session, job_id)
    if job is None or job.state != "pending":
        return job
    job.failed_attempts += 1
    job.last_error = error[:200]
    job.updated_at = now
    if job.failed_attempts >= max_attempts:
        left = session.execute(
            select(func.count(ImportRow.id), func.min(ImportRow.line)).where(
                ImportRow.job_id == job.id
            )
        ).one()
        job.not_recorded = left[0]
        job.first_not_recorded_line = left[1]
        session.execute(delete(ImportRow).where(ImportRow.job_id == job.id))
        _finish(job, "failed", now)
    return job


def _rows_left(session: Session, job_id: int) -> bool:
    return (
        session.scalar(select(ImportRow.id).where(ImportRow.job_id == job_id).limit(1)) is not None
    )


def _finish(job: ImportJob, state: str, now: dt.datetime) -> None:
    job.state = state
    job.finished_at = now
    job.updated_at = now


def pending_job_ids(session: Session) -> list[int]:
    """Every workspace's unfinished jobs, oldest first (for the worker)."""
    return list(
        session.scalars(
            select(ImportJob.id).where(ImportJob.state == "pending").order_by(ImportJob.id)
        )
    )


def job_in_workspace(session: Session, workspace_id: int, job_id: int) -> ImportJob | None:
    return session.scalars(
        workspace_scoped(select(ImportJob).where(ImportJob.id == job_id), workspace_id)
    ).one_or_none()


def recent_jobs(session: Session, workspace_id: int, limit: int = 10) -> list[ImportJob]:
    return list(
        session.scalars(
            workspace_scoped(
                select(ImportJob).order_by(ImportJob.created_at.desc(), ImportJob.id.desc()),
                workspace_id,
            ).limit(limit)
        )
    )


@dataclass(frozen=True)
class RejectedLines:
    """Consecutive rejected lines with the same reason, shown as one entry."""

    first: int
    last: int
    reason: str

    @property
    def count(self) -> int:
        return self.last - self.first + 1


def rejected_lines(session: Session, job: ImportJob) -> list[RejectedLines]:
    """Every rejected line of the job, runs of the same reason taken together.

    A file with a wrong stage key in every row is then one entry, not 55,000.
    """
    runs: list[RejectedLines] = []
    rows = session.execute(
        workspace_scoped(
            select(ImportRejection.line, ImportRejection.reason)
            .where(ImportRejection.job_id == job.id)
            .order_by(ImportRejection.line),
            job.workspace_id,
        )
    )
    for line, reason in rows:
        if runs and runs[-1].reason == reason and runs[-1].last == line - 1:
            runs[-1] = RejectedLines(runs[-1].first, line, reason)
        else:
            runs.append(RejectedLines(line, line, reason))
    return runs
