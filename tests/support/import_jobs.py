"""CSV imports as jobs: their settings, a CSV of many contacts, and a job waiting to run."""

from __future__ import annotations

from sqlalchemy.orm import Session

from feedback.accounts.models import Workspace
from feedback.surveys import import_runner, imports, touchpoints
from tests.factories import NOW

SETTINGS = import_runner.ImportSettings(base_url="https://fb.example.com", secret_key="k" * 32)
HEADER = "email,name,stage,touchpoint,event_id,occurred_at"


def csv_of(count: int, *, poison_at: int | None = None) -> bytes:
    lines = [HEADER]
    for n in range(count):
        email = "poison@example.com" if n == poison_at else f"c{n}@example.com"
        lines.append(f"{email},C {n},purchase,checkout,order-{n},2026-06-14T10:00:00Z")
    return ("\n".join(lines) + "\n").encode()


def no_pause(_seconds: float) -> None:
    pass


def start_job(session: Session, workspace: Workspace, data: bytes, send: bool = True) -> int:
    rows = touchpoints.read_csv(data)
    job = imports.create_import_job(session, workspace, rows, file_name="t.csv", send=send, now=NOW)
    session.commit()
    return job.id
