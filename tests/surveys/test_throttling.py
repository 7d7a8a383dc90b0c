"""Asking the same customer too often: per stage, and across the whole journey."""

from __future__ import annotations

import datetime as dt

from feedback.db import utcnow
from feedback.surveys import services
from tests.factories import NOW, make_invitation, make_workspace

EMAIL = "ann@example.com"


def ask(db_session, workspace, *, stage="purchase", touchpoint="checkout", days=0.0, email=EMAIL):
    return make_invitation(
        db_session,
        workspace,
        stage=stage,
        touchpoint=touchpoint,
        email=email,
        now=NOW + dt.timedelta(days=days),
        sent=False,
    ).invitation.status


def test_the_same_stage_is_not_asked_again_within_the_throttle_window(db_session):
    workspace = make_workspace(db_session)
    assert ask(db_session, workspace) == "queued"
    assert ask(db_session, workspace, touchpoint="order-delivered", days=10) == "throttled"
    assert ask(db_session, workspace, days=29.9) == "throttled"
    assert ask(db_session, workspace, days=30.1) == "queued"


def test_any_stage_waits_for_the_contact_cap(db_session):
    workspace = make_workspace(db_session)
    assert ask(db_session, workspace) == "queued"
    assert (
        ask(db_session, workspace, stage="retention", touchpoint="onboarding-complete", days=2)
        == "throttled"
    )
    assert (
        ask(db_session, workspace, stage="retention", touchpoint="onboarding-complete", days=3.1)
        == "queued"
    )
    assert ask(db_session, workspace, email="someone-else@example.com") == "queued"


def test_throttled_invitations_do_not_extend_the_window(db_session):
    workspace = make_workspace(db_session)
    assert ask(db_session, workspace) == "queued"
    assert ask(db_session, workspace, days=20) == "throttled"
    assert ask(db_session, workspace, days=31) == "queued"


def test_both_windows_are_settings_and_zero_turns_them_off(db_session):
    workspace = make_workspace(db_session)
    workspace.throttle_days, workspace.contact_cap_days = 0, 0
    db_session.commit()
    assert [ask(db_session, workspace) for _ in range(3)] == ["queued"] * 3
    workspace.throttle_days, workspace.contact_cap_days = 7, 1
    db_session.commit()
    assert ask(db_session, workspace, days=6) == "throttled"
    assert ask(db_session, workspace, stage="advocacy", touchpoint="renewal", days=6) == "queued"


def test_unsubscribed_takes_precedence_over_throttled(db_session):
    workspace = make_workspace(db_session)
    assert ask(db_session, workspace) == "queued"
    contact = services.find_or_create_contact(db_session, workspace.id, EMAIL)
    services.unsubscribe(db_session, contact, NOW)
    db_session.commit()
    assert ask(db_session, workspace, days=1) == "unsubscribed"


def test_a_throttled_link_is_never_answerable(client, db_session):
    workspace = make_workspace(db_session)
    make_invitation(db_session, workspace, email=EMAIL, now=utcnow())
    throttled = make_invitation(db_session, workspace, email=EMAIL, now=utcnow(), sent=False)
    assert throttled.invitation.status == "throttled"
    assert client.get(f"/s/{throttled.token}").status_code == 404
    assert client.post(f"/s/{throttled.token}", data={"rating": "5"}).status_code == 404
