"""CSV imports: a row with an impossible time or a control character in its id is reported."""

from __future__ import annotations

from sqlalchemy import select

from feedback.surveys import touchpoints
from feedback.surveys.models import Invitation
from tests.factories import NOW, make_workspace

CSV = (
    "email,name,stage,touchpoint,event_id,occurred_at\n"
    "ann@example.com,Ann,purchase,checkout,order-1,2026-06-14T10:00:00Z\n"
    "bo@example.com,Bo,purchase,checkout,order-2,9999-12-31T23:59:59-14:00\n"
    "cy@example.com,Cy,purchase,checkout,order-3,0001-01-01T00:00:00+14:00\n"
    "di@example.com,Di,purchase,checkout,order-4,1999-12-31T23:59:59Z\n"
    'ed@example.com,Ed,purchase,checkout,"order\x00-5",\n'
    'fy@example.com,Fy,purchase,checkout,"order\t6",\n'
    "gu@example.com,Gu,purchase,checkout,order-7,2100-12-31T23:59:59Z\n"
)


def test_rows_outside_the_time_window_or_with_control_characters_are_reported(app, db_session):
    workspace = make_workspace(db_session)
    report = touchpoints.import_touchpoints(
        db_session,
        workspace,
        touchpoints.read_csv(CSV.encode()),
        now=NOW,
        base_url="https://fb.example.com",
        secret_key="test-secret-key",
    )
    db_session.commit()
    assert [line for line, _ in report.created] == [2, 8]
    reasons = dict(report.rejected)
    assert sorted(reasons) == [3, 4, 5, 6, 7]
    for line in (3, 4, 5):
        assert reasons[line] == "occurred_at must be from 2000-01-01 to 2100-12-31 (UTC)"
    for line in (6, 7):
        assert "event_id must not contain control characters" in reasons[line]
    stored = db_session.scalars(select(Invitation.event_id).order_by(Invitation.id)).all()
    assert stored == ["order-1", "order-7"]
