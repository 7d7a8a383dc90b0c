"""CSV imports as jobs: batches commit one by one, a failure is reported, nothing times out."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session

from feedback.db import lock_for_writing
from feedback.delivery.models import OutboxMessage
from feedback.surveys import import_runner, imports, touchpoints
from feedback.surveys.models import Contact, ImportJob, ImportRejection, ImportRow, Invitation
from tests.factories import NOW, PASSWORD, make_owner, make_workspace
from tests.pages import csrf_token_from
from tests.support.import_jobs import HEADER, SETTINGS, csv_of, no_pause, start_job


def count(session: Session, model: type) -> int:
    session.rollback()  # a fresh look: other connections committed meanwhile
    return session.scalar(select(func.count()).select_from(model)) or 0


# -- SQLite: SAVEPOINTs nest in the transaction (SQLAlchemy's pysqlite recipe) ----------


def test_work_in_a_released_savepoint_is_undone_with_its_transaction(app, db_session):
    workspace = make_workspace(db_session)
    workspace_id = workspace.id
    db_session.commit()
    # The SAVEPOINT is the transaction's first statement: without the recipe,
    # pysqlite sent no BEGIN, SQLite opened a transaction for the SAVEPOINT
    # alone, and its RELEASE committed the row for good.
    with db_session.begin_nested():
        lock_for_writing(db_session)
        db_session.execute(
            insert(Contact).values(workspace_id=workspace_id, email="a@example.com", created_at=NOW)
        )
    db_session.rollback()
    assert count(db_session, Contact) == 0


def test_a_batch_of_touchpoints_is_undone_when_its_transaction_rolls_back(app, db_session):
    workspace = make_workspace(db_session)
    events = [
        touchpoints.TouchpointEvent(
            email=f"c{n}@example.com", stage="purchase", touchpoint="checkout"
        )
        for n in range(3)
    ]
    touchpoints.record_touchpoints(
        db_session, workspace, events, now=NOW, base_url="https://x", secret_key="k" * 32
    )
    db_session.rollback()
    assert count(db_session, Invitation) == 0
    assert count(db_session, OutboxMessage) == 0


def test_a_savepoint_rolled_back_undoes_only_its_own_part(app, db_session):
    workspace = make_workspace(db_session)
    workspace_id = workspace.id
    db_session.commit()
    with db_session.begin_nested():
        db_session.execute(
            insert(Contact).values(
                workspace_id=workspace_id, email="kept@example.com", created_at=NOW
            )
        )
    nested = db_session.begin_nested()
    db_session.execute(
        insert(Contact).values(workspace_id=workspace_id, email="gone@example.com", created_at=NOW)
    )
    nested.rollback()
    db_session.commit()
    db_session.rollback()
    assert db_session.scalars(select(Contact.email)).all() == ["kept@example.com"]


# -- jobs --------------------------------------------------------------------------------


@pytest.fixture
def poisoned_contacts(app, db_session) -> Iterator[None]:
    """A trigger that makes the database refuse one contact (a failure we don't cause in Python)."""
    if db_session.get_bind().dialect.name == "sqlite":
        statements = [
            "CREATE TRIGGER poison BEFORE INSERT ON contact WHEN NEW.email = 'poison@example.com' "
            "BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"
        ]
        cleanup = ["DROP TRIGGER poison"]
    else:
        statements = [
            "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.email = 'poison@example.com' THEN RAISE EXCEPTION 'poisoned row'; END IF; "
            "RETURN NEW; END $$",
            "CREATE TRIGGER poison BEFORE INSERT ON contact FOR EACH ROW EXECUTE FUNCTION poison()",
        ]
        cleanup = ["DROP TRIGGER poison ON contact", "DROP FUNCTION poison()"]
    for statement in statements:
        db_session.execute(text(statement))
    db_session.commit()
    yield
    db_session.rollback()
    for statement in cleanup:
        db_session.execute(text(statement))
    db_session.commit()


def test_a_failing_batch_keeps_the_batches_before_it_and_reports_the_rest(
    app, db_session, poisoned_contacts
):
    workspace = make_workspace(db_session)
    job_id = start_job(db_session, workspace, csv_of(2500, poison_at=1500))
    settings = import_runner.ImportSettings(SETTINGS.base_url, SETTINGS.secret_key, batch_size=1000)
    job = import_runner.run_import_job(db_session, job_id, settings, pause=no_pause)
    assert job is not None and job.state == "failed"
    assert job.recorded == 1000 and job.failed_attempts == 3 and job.last_error
    assert job.not_recorded == 1500 and job.first_not_recorded_line == 1002
    # The whole failed batch is undone (contacts, invitations and emails), the first kept.
    assert count(db_session, Invitation) == 1000
    assert count(db_session, Contact) == 1000
    assert count(db_session, OutboxMessage) == 1000
    assert count(db_session, ImportRow) == 0  # no personal data left behind


def test_a_failed_job_imported_again_records_only_what_was_missing(app, db_session):
    workspace = make_workspace(db_session)
    first = start_job(db_session, workspace, csv_of(1500))
    # As if the job had failed after its first batch of 1,000.
    settings = import_runner.ImportSettings(SETTINGS.base_url, SETTINGS.secret_key, batch_size=1000)
    import_runner.run_one_batch(db_session, first, settings)
    for _ in range(3):
        imports.note_failed_batch(db_session, first, error="OperationalError", now=NOW)
        db_session.commit()
    assert db_session.get(ImportJob, first).state == "failed"
    again = import_runner.run_import_job(
        db_session, start_job(db_session, workspace, csv_of(1500)), settings
    )
    assert again is not None and again.state == "finished"
    assert (again.recorded, again.duplicates, again.rejected) == (500, 1000, 0)
    assert count(db_session, Invitation) == 1500


def test_the_worker_finishes_a_job_nobody_is_running(app, db_session):
    workspace = make_workspace(db_session)
    job_id = start_job(db_session, workspace, csv_of(30), send=False)
    assert import_runner.run_pending_imports(db_session, SETTINGS, seconds=60) == 0
    job = db_session.get(ImportJob, job_id)
    assert job is not None and (job.state, job.recorded) == ("finished", 30)
    assert count(db_session, OutboxMessage) == 0


def test_the_page_of_a_stalled_job_starts_it_again(client, db_session, auth):
    user, workspace = make_owner(db_session)
    job_id = start_job(db_session, workspace, csv_of(20))
    stalled = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    db_session.execute(update(ImportJob).where(ImportJob.id == job_id).values(updated_at=stalled))
    db_session.commit()
    auth.login(user.email, PASSWORD)
    assert 'data-import-state="pending"' in client.get(f"/touchpoints/import/{job_id}").text
    import_runner.wait_for_background_imports()
    page = client.get(f"/touchpoints/import/{job_id}")
    assert 'data-import-state="finished"' in page.text
    assert "<strong>20</strong> recorded" in page.text


def test_another_workspace_s_import_is_not_found(client, db_session, auth):
    _, other = make_owner(db_session)
    job_id = start_job(db_session, other, csv_of(1), send=False)
    import_runner.run_import_job(db_session, job_id, SETTINGS)
    user, _ = make_owner(db_session)
    auth.login(user.email, PASSWORD)
    assert client.get(f"/touchpoints/import/{job_id}").status_code == 404


def test_rejected_lines_with_one_reason_are_listed_as_a_range(app, db_session):
    workspace = make_workspace(db_session)
    lines = [HEADER] + [f"c{n}@example.com,,nowhere,checkout,e-{n}," for n in range(1200)]
    lines.append("x@example.com,,purchase,nowhere,e-x,")
    job_id = start_job(db_session, workspace, ("\n".join(lines) + "\n").encode())
    job = import_runner.run_import_job(db_session, job_id, SETTINGS)
    assert job is not None and job.rejected == 1201
    assert count(db_session, ImportRejection) == 1201
    runs = imports.rejected_lines(db_session, job)
    assert [(r.first, r.last, r.reason) for r in runs] == [
        (2, 1201, "unknown stage 'nowhere'"),
        (1202, 1202, "unknown touchpoint 'nowhere'"),
    ]


# -- the 55,000-row upload through gunicorn ------------------------------------------------

BIG = 55_000


def big_csv() -> bytes:
    """55,000 rows: 4 rejected, 1 repeating an event_id of the file; the rest recorded."""
    lines = [HEADER]
    for n in range(BIG):
        if n in (10, 30_000):
            lines.append(f"not-an-email-{n},,purchase,checkout,order-{n},")
        elif n in (20_000, 54_999):
            lines.append(f"c{n}@example.com,,nowhere,checkout,order-{n},")
        elif n == 40_000:
            lines.append("c1@example.com,,purchase,checkout,order-1,")
        else:
            lines.append(f"c{n}@example.com,C {n},purchase,checkout,order-{n},")
    return ("\n".join(lines) + "\n").encode()


def upload(web: requests.Session, base: str, data: bytes) -> str:
    page = web.get(f"{base}/touchpoints/import", timeout=30)
    started = time.monotonic()
    answer = web.post(
        f"{base}/touchpoints/import",
        data={"csrf_token": csrf_token_from(page.text), "send": "y"},
        files={"csv_file": ("big.csv", data, "text/csv")},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 303, answer.text[:500]
    # Well inside gunicorn's 30 s: the upload only stores the rows.
    assert time.monotonic() - started < 15
    return f"{base}{answer.headers['Location']}"


def wait_until_done(web: requests.Session, job_url: str) -> str:
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline:
        page = web.get(job_url, timeout=30)
        assert page.status_code == 200
        if 'data-import-state="pending"' not in page.text:
            return page.text
        time.sleep(1)
    pytest.fail("the import did not finish in 400 s")


@pytest.mark.slow
def test_a_55000_row_upload_is_recorded_in_the_background_and_once_only(
    live_server, app, db_session
):
    user, _ = make_owner(db_session)
    web = requests.Session()
    login = web.get(f"{live_server}/login", timeout=30)
    web.post(
        f"{live_server}/login",
        data={"email": user.email, "password": PASSWORD, "csrf_token": csrf_token_from(login.text)},
        timeout=30,
    )
    data = big_csv()
    report = wait_until_done(web, upload(web, live_server, data))
    assert 'data-import-state="finished"' in report
    assert "<strong>54,995</strong> recorded" in report
    assert "<strong>1</strong> already imported" in report
    assert "<strong>4</strong> rejected" in report
    for line in (12, 30_002):
        assert f"Line {line}: email is not a valid email address" in report
    for line in (20_002, 55_001):
        assert f"Line {line}: unknown stage &#39;nowhere&#39;" in report
    assert count(db_session, Invitation) == 54_995
    assert count(db_session, OutboxMessage) == 54_995
    assert count(db_session, ImportRow) == 0

    again = wait_until_done(web, upload(web, live_server, data))
    assert "<strong>0</strong> recorded" in again
    assert "<strong>54,996</strong> already imported" in again
    assert "<strong>4</strong> rejected" in again
    assert count(db_session, Invitation) == 54_995
    assert count(db_session, OutboxMessage) == 54_995


def test_the_import_command_says_which_lines_an_error_left_unrecorded(
    runner, db_session, poisoned_contacts, tmp_path
):
    make_workspace(db_session, "Acme Plants")
    path = tmp_path / "touchpoints.csv"
    path.write_bytes(csv_of(2500, poison_at=1500))
    args = ["feedback", "import-touchpoints", str(path), "--workspace", "acme-plants"]
    result = runner.invoke(args=args)
    assert result.exit_code == 1
    assert "1000 recorded, 0 already imported, 0 rejected." in result.output
    assert "1500 rows from line 1002 on were not recorded" in result.output
    assert count(db_session, Invitation) == 1000
