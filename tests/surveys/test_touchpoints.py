"""Touchpoint events and CSV imports: each event once, bad rows reported, good rows kept."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from feedback.delivery.models import OutboxMessage
from feedback.surveys import import_runner, touchpoints
from feedback.surveys.models import Invitation
from tests.factories import NOW, PASSWORD, make_owner, make_workspace
from tests.pages import csrf_token_from

CSV = (
    "email,name,stage,touchpoint,event_id,occurred_at\n"
    "ann@example.com,Ann,purchase,checkout,order-1,2026-06-14T10:00:00Z\n"
    "BOB@example.com,Bob,retention,support-ticket-solved,ticket-9,\n"
    "not-an-email,X,purchase,checkout,order-2,\n"
    "cy@example.com,Cy,nowhere,checkout,order-3,\n"
    "di@example.com,Di,purchase,renewal,order-4,\n"
    "ed@example.com,Ed,purchase,checkout,order-5,yesterday\n"
    ",,purchase,checkout,order-6,\n"
    '=HYPERLINK("x"),Eve,purchase,checkout,order-7,\n'
)


def run_import(db_session, workspace, data=CSV, send=True):
    report = touchpoints.import_touchpoints(
        db_session,
        workspace,
        touchpoints.read_csv(data.encode()),
        now=NOW,
        base_url="https://fb.example.com",
        secret_key="test-secret-key",
        send=send,
    )
    db_session.commit()
    return report


def test_a_csv_import_keeps_good_rows_and_explains_bad_ones(app, db_session):
    workspace = make_workspace(db_session)
    report = run_import(db_session, workspace)
    assert report.created == [(2, "queued"), (3, "queued")]
    reasons = dict(report.rejected)
    assert set(reasons) == {4, 5, 6, 7, 8, 9}
    assert "not a valid email" in reasons[4]
    assert reasons[5] == "unknown stage 'nowhere'"
    assert reasons[6] == "unknown touchpoint 'renewal'"
    assert "ISO 8601" in reasons[7]
    assert "email is missing" in reasons[8]
    assert "not a valid email" in reasons[9]
    invitations = db_session.scalars(select(Invitation).order_by(Invitation.id)).all()
    assert [i.event_id for i in invitations] == ["order-1", "ticket-9"]
    assert invitations[0].occurred_at.isoformat() == "2026-06-14T10:00:00+00:00"
    assert db_session.scalar(select(func.count(OutboxMessage.id))) == 2


def test_importing_the_same_file_again_sends_nothing_twice(app, db_session):
    workspace = make_workspace(db_session)
    run_import(db_session, workspace)
    again = run_import(db_session, workspace)
    assert again.created == [] and again.duplicates == [2, 3]
    assert db_session.scalar(select(func.count(Invitation.id))) == 2
    assert db_session.scalar(select(func.count(OutboxMessage.id))) == 2


def test_event_ids_are_per_workspace(app, db_session):
    first, second = make_workspace(db_session), make_workspace(db_session)
    run_import(db_session, first)
    assert len(run_import(db_session, second).created) == 2


def test_without_sending_the_invitations_are_recorded_but_not_emailed(app, db_session):
    workspace = make_workspace(db_session)
    run_import(db_session, workspace, send=False)
    assert db_session.scalar(select(func.count(Invitation.id))) == 2
    assert db_session.scalar(select(func.count(OutboxMessage.id))) == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"name,stage\nx,y\n", "lacks email, touchpoint"),
        (b"\xff\xfe\x00bad", "not UTF-8"),
        (b"", "lacks email, stage, touchpoint"),
    ],
)
def test_an_unreadable_file_is_refused_as_a_whole(data, message):
    with pytest.raises(touchpoints.CsvImportError, match=message):
        touchpoints.read_csv(data)


def test_the_import_command_reports_each_rejected_line(runner, db_session, tmp_path):
    make_workspace(db_session, "Acme Plants")
    path = tmp_path / "touchpoints.csv"
    path.write_text(CSV)
    result = runner.invoke(
        args=["feedback", "import-touchpoints", str(path), "--workspace", "acme-plants"]
    )
    assert result.exit_code == 0, result.output
    assert "line 5: rejected: unknown stage 'nowhere'" in result.output
    assert "2 recorded, 0 already imported, 6 rejected." in result.output
    again = runner.invoke(
        args=["feedback", "import-touchpoints", str(path), "--workspace", "acme-plants"]
    )
    assert "0 recorded, 2 already imported, 6 rejected." in again.output


def test_owners_upload_a_csv_and_see_the_report(client, db_session, auth):
    user, workspace = make_owner(db_session)
    auth.login(user.email, PASSWORD)
    page = client.get("/touchpoints/import")
    assert page.status_code == 200
    token = csrf_token_from(page)
    result = client.post(
        "/touchpoints/import",
        data={"csrf_token": token, "send": "y", "csv_file": (io.BytesIO(CSV.encode()), "t.csv")},
        content_type="multipart/form-data",
    )
    assert result.status_code == 303
    import_runner.wait_for_background_imports()
    report = client.get(result.headers["Location"])
    assert report.status_code == 200
    assert 'data-import-state="finished"' in report.text
    assert "<strong>2</strong> recorded" in report.text
    assert "<strong>6</strong> rejected" in report.text
    assert "Line 5: unknown stage &#39;nowhere&#39;" in report.text
    # The report outlives the rows: it names no address, not even a malformed one.
    assert "Line 9: email is not a valid email address" in report.text
    assert "hyperlink" not in report.text
    assert "Lines 7\u20138" not in report.text  # different reasons are not taken together
    listed = client.get("/touchpoints/import").text
    assert f'href="{result.headers["Location"]}">t.csv</a>' in listed and "finished" in listed
    assert (
        db_session.scalar(
            select(func.count(Invitation.id)).where(Invitation.workspace_id == workspace.id)
        )
        == 2
    )


def test_the_upload_refuses_bad_files_and_missing_csrf(client, db_session, auth):
    user, _ = make_owner(db_session)
    auth.login(user.email, PASSWORD)
    token = csrf_token_from(client.get("/touchpoints/import"))

    def upload(content: bytes, name: str = "t.csv", **extra: str):
        return client.post(
            "/touchpoints/import",
            data={"csv_file": (io.BytesIO(content), name), **extra},
            content_type="multipart/form-data",
        )

    no_token = upload(CSV.encode())
    assert no_token.status_code == 400 and "The form had expired" in no_token.text
    wrong_type = upload(b"%PDF-1.4", "report.pdf", csrf_token=token)
    assert wrong_type.status_code == 422 and "Only .csv files" in wrong_type.text
    bad_header = upload(b"who,what\n1,2\n", csrf_token=token)
    assert bad_header.status_code == 422 and "lacks email, stage, touchpoint" in bad_header.text
    # Raw bytes: the server refuses on Content-Length before reading any of it.
    oversize = client.post(
        "/touchpoints/import",
        data=b"x" * (6 * 1024 * 1024),
        content_type="multipart/form-data; boundary=b",
    )
    assert oversize.status_code == 413
    missing = client.post("/touchpoints/import", data={"csrf_token": token})
    assert missing.status_code == 422 and "Choose a CSV file." in missing.text
    assert db_session.scalar(select(func.count(Invitation.id))) == 0


def test_the_upload_page_needs_a_login(client):
    assert client.get("/touchpoints/import").status_code == 302


def test_a_large_file_is_recorded_in_batches_with_the_right_line_numbers(app, db_session):
    workspace = make_workspace(db_session)
    lines = ["email,name,stage,touchpoint,event_id,occurred_at"]
    for n in range(2500):
        stage = "nowhere" if n == 2222 else "purchase"
        lines.append(f"c{n}@example.com,C {n},{stage},checkout,order-{n},")
    lines.append("c1@example.com,Again,purchase,checkout,order-1,")  # a repeat, line 2502
    report = run_import(db_session, workspace, "\n".join(lines) + "\n")
    assert report.rejected == [(2224, "unknown stage 'nowhere'")]
    assert report.duplicates == [2502]
    assert len(report.created) == 2499
    assert report.created[0] == (2, "queued") and report.created[-1] == (2501, "queued")
    assert db_session.scalar(select(func.count(OutboxMessage.id))) == 2499


def test_an_event_id_reused_for_another_customer_is_rejected_with_the_reason(app, db_session):
    workspace = make_workspace(db_session)
    run_import(db_session, workspace)
    clash = "email,stage,touchpoint,event_id\nzoe@example.com,purchase,checkout,order-1\n"
    report = run_import(db_session, workspace, clash)
    [(line, reason)] = report.rejected
    assert line == 2 and "'order-1' was already used for another contact" in reason


def test_the_import_page_lists_the_keys_and_its_sample_csv_imports_cleanly(
    client, db_session, auth
):
    user, workspace = make_owner(db_session)
    auth.login(user.email, PASSWORD)
    page = client.get("/touchpoints/import")
    assert "<code>purchase</code> (Purchase decision): <code>checkout</code>" in page.text
    sample = client.get("/touchpoints/import/sample.csv")
    assert sample.status_code == 200 and sample.mimetype == "text/csv"
    assert f'filename="{workspace.slug}-sample.csv"' in sample.headers["Content-Disposition"]
    rows = touchpoints.read_csv(sample.data)
    assert [(r["stage"], r["touchpoint"]) for r in rows] == [
        ("awareness", "ad-click"),
        ("consideration", "discovery-call"),
    ]
