from __future__ import annotations

import pytest

from feedback.journey.services import (
    UnknownStage,
    UnknownTouchpoint,
    find_touchpoint,
    stages_in_order,
)
from tests.factories import make_workspace


def test_a_new_workspace_gets_the_default_journey_in_order(db_session):
    workspace = make_workspace(db_session, "Acme Plants")
    stages = stages_in_order(db_session, workspace.id)
    assert [(s.key, s.scale) for s in stages] == [
        ("awareness", "csat"),
        ("consideration", "csat"),
        ("purchase", "csat"),
        ("retention", "csat"),
        ("advocacy", "nps"),
    ]
    assert {s.key: [t.key for t in s.touchpoints] for s in stages} == {
        "awareness": ["ad-click", "referral"],
        "consideration": ["discovery-call", "quote-sent"],
        "purchase": ["checkout", "order-delivered"],
        "retention": ["onboarding-complete", "support-ticket-solved"],
        "advocacy": ["renewal", "referral-made"],
    }
    assert "Acme Plants" in stages[-1].question
    assert all(s.question and s.comment_prompt and s.thank_you for s in stages)


def test_touchpoints_are_found_by_stage_and_key(db_session):
    workspace = make_workspace(db_session)
    touchpoint = find_touchpoint(db_session, workspace.id, "retention", "support-ticket-solved")
    assert touchpoint.stage.key == "retention"
    assert touchpoint.workspace_id == workspace.id


def test_unknown_or_mismatched_keys_are_refused(db_session):
    workspace = make_workspace(db_session)
    with pytest.raises(UnknownStage):
        find_touchpoint(db_session, workspace.id, "nope", "checkout")
    with pytest.raises(UnknownTouchpoint):
        find_touchpoint(db_session, workspace.id, "awareness", "checkout")


def test_an_inactive_stage_takes_no_new_invitations(db_session):
    workspace = make_workspace(db_session)
    stage = stages_in_order(db_session, workspace.id)[0]
    stage.active = False
    db_session.commit()
    with pytest.raises(UnknownStage):
        find_touchpoint(db_session, workspace.id, stage.key, "ad-click")


def test_look_ups_stay_inside_the_workspace(db_session):
    first = make_workspace(db_session)
    second = make_workspace(db_session)
    touchpoint = find_touchpoint(db_session, second.id, "purchase", "checkout")
    assert touchpoint.workspace_id == second.id
    assert [s.workspace_id for s in stages_in_order(db_session, first.id)] == [first.id] * 5
