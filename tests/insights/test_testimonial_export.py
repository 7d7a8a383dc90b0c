"""/export/testimonials.csv: approved and featured only, the reuse columns, uses recorded."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from feedback.insights import exports
from feedback.testimonials import services
from feedback.testimonials.models import TestimonialUse
from tests.factories import NOW, PASSWORD, approved, make_owner, make_workspace, opted_in


@pytest.fixture
def owner(client, db_session, auth):
    user, workspace = make_owner(db_session, "Acme Plants")
    auth.login(user.email, PASSWORD)
    return workspace


def exported(client, query: str = "") -> list[dict[str, str]]:
    response = client.get("/export/testimonials.csv" + query)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_only_approved_and_featured_are_exported_never_withdrawn_rejected_or_pending(
    client, db_session, owner
):
    ws = owner
    shown = approved(db_session, ws, "Approved words")
    best = approved(db_session, ws, "Featured words", featured=True)
    opted_in(db_session, ws, "Pending words")
    rejected = opted_in(db_session, ws, "Rejected words")
    services.reject(db_session, ws.id, rejected.id)
    gone = approved(db_session, ws, "Withdrawn words")
    services.withdraw_on_request(db_session, ws.id, gone.id, NOW)
    gone_featured = approved(db_session, ws, "Withdrawn featured", featured=True)
    services.withdraw_on_request(db_session, ws.id, gone_featured.id, NOW)
    db_session.commit()
    rows = exported(client)
    assert {int(r["id"]) for r in rows} == {shown.id, best.id}
    assert {r["status"] for r in rows} == {"approved", "featured"}


def test_the_export_carries_role_tags_channels_disclosure_and_both_consent_times(
    client, db_session, owner
):
    ws = owner
    t = approved(
        db_session, ws, "Lovely ferns", display_name="Ann", role="Owner", channels="website print"
    )
    services.set_tags(db_session, ws.id, t.id, ["plants", "delivery"])
    services.set_material_connection(db_session, ws.id, t.id, "gifted")
    t.reconfirmed_at = NOW.replace(year=2027)
    db_session.commit()
    (row,) = exported(client)
    assert row["role"] == "Owner"
    assert row["tags"] == "delivery plants"
    assert row["channels"] == "website print"
    assert row["material_connection_disclosure"] == "Received a free product or service"
    assert row["consented_at"] == "2026-06-15T12:00:00+00:00"
    assert row["reconfirmed_at"] == "2027-06-15T12:00:00+00:00"
    assert row["quote"] == "Lovely ferns" and row["display_name"] == "Ann"


def test_formulas_in_the_new_columns_are_neutralised(client, db_session, owner):
    ws = owner
    approved(db_session, ws, "=cmd|' /C calc'!A0", display_name="@SUM(A1)", role="=HYPERLINK(1)")
    (row,) = exported(client)
    assert row["quote"] == "'=cmd|' /C calc'!A0"
    assert row["display_name"] == "'@SUM(A1)"
    assert row["role"] == "'=HYPERLINK(1)"


def test_every_exported_testimonial_is_recorded_as_used_on_export(client, db_session, owner):
    ws = owner
    ones = [approved(db_session, ws, f"Words {i}") for i in range(3)]
    pending = opted_in(db_session, ws, "Pending")
    other = approved(db_session, make_workspace(db_session), "Another shop")
    exported(client)
    db_session.expire_all()
    used = db_session.scalars(select(TestimonialUse)).all()
    assert {(u.testimonial_id, u.channel) for u in used} == {(t.id, "export") for t in ones}
    assert pending.id not in {u.testimonial_id for u in used}
    assert other.id not in {u.testimonial_id for u in used}
    first_last = {u.testimonial_id: u.last_at for u in used}
    exported(client)
    db_session.expire_all()
    again = db_session.scalars(select(TestimonialUse)).all()
    assert len(again) == 3 and all(u.last_at >= first_last[u.testimonial_id] for u in again)


def test_a_large_export_records_uses_in_batches(client, db_session, owner, monkeypatch):
    monkeypatch.setattr(exports, "USE_BATCH", 2)
    ws = owner
    ones = [approved(db_session, ws, f"Words {i}") for i in range(5)]
    assert len(exported(client)) == 5
    db_session.expire_all()
    used = {u.testimonial_id for u in db_session.scalars(select(TestimonialUse))}
    assert used == {t.id for t in ones}
