"""Owners edit their journey: stage wording, scale, order, activity, touchpoints."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import func, select

from feedback.db import utcnow
from feedback.journey import editing, services
from feedback.journey.models import Stage, Touchpoint
from feedback.journey.services import JourneyError, StageChanges
from feedback.surveys.models import Response
from feedback.surveys.services import find_link
from tests.factories import make_invitation, make_response, make_workspace


def stage_named(session, workspace, key: str) -> Stage:
    return next(s for s in services.stages_in_order(session, workspace.id) if s.key == key)


def changes_of(stage: Stage, **override) -> StageChanges:
    current = StageChanges(
        name=stage.name,
        question=stage.question,
        comment_prompt=stage.comment_prompt,
        thank_you=stage.thank_you,
        scale=stage.scale,
        active=stage.active,
    )
    return dataclasses.replace(current, **override)


def test_new_wording_reaches_the_customer_form_and_the_key_stays(db_session, client):
    shop = make_workspace(db_session)
    issued = make_invitation(db_session, shop, now=utcnow())
    stage = stage_named(db_session, shop, "purchase")
    editing.update_stage(
        db_session,
        stage,
        changes_of(
            stage,
            name="  Buying   online ",
            question="How easy was it to buy from us?",
            thank_you="Cheers for that!",
        ),
    )
    db_session.commit()
    assert (stage.key, stage.name) == ("purchase", "Buying online")
    page = client.get(f"/s/{issued.token}")
    assert page.status_code == 200 and "How easy was it to buy from us?" in page.text
    assert find_link(db_session, issued.token).stage.key == "purchase"


@pytest.mark.parametrize(
    ("override", "field", "message"),
    [
        ({"name": "   "}, "name", "enter a name"),
        ({"name": "x" * 81}, "name", "under 80"),
        ({"name": "retention"}, "name", "Another stage"),
        ({"question": "\x00\x01"}, "question", "enter the question"),
        ({"question": "q" * 301}, "question", "under 300"),
        ({"comment_prompt": ""}, "comment_prompt", "comment prompt"),
        ({"thank_you": "t" * 201}, "thank_you", "under 200"),
        ({"scale": "stars"}, "scale", "scales listed"),
    ],
)
def test_bad_stage_changes_are_refused_with_the_field_named(db_session, override, field, message):
    shop = make_workspace(db_session)
    stage = stage_named(db_session, shop, "purchase")
    with pytest.raises(JourneyError, match=message) as refused:
        editing.update_stage(db_session, stage, changes_of(stage, **override))
    assert refused.value.field == field


def test_the_scale_changes_until_the_first_answer_and_not_after(db_session):
    shop = make_workspace(db_session)
    stage = stage_named(db_session, shop, "purchase")
    editing.update_stage(db_session, stage, changes_of(stage, scale="ces"))
    editing.update_stage(db_session, stage, changes_of(stage, scale="csat"))
    db_session.commit()
    make_response(db_session, shop, stage="purchase", rating=4)
    with pytest.raises(JourneyError, match="mix two scales") as refused:
        editing.update_stage(db_session, stage, changes_of(stage, scale="nps"))
    assert refused.value.field == "scale"
    # Everything else can still change.
    editing.update_stage(db_session, stage, changes_of(stage, name="Checkout"))
    assert (stage.name, stage.scale) == ("Checkout", "csat")


def test_stages_go_inactive_but_never_all_of_them(db_session):
    shop = make_workspace(db_session)
    stages = services.stages_in_order(db_session, shop.id)
    for stage in stages[:-1]:
        editing.update_stage(db_session, stage, changes_of(stage, active=False))
    with pytest.raises(JourneyError, match="At least one stage") as refused:
        editing.update_stage(db_session, stages[-1], changes_of(stages[-1], active=False))
    assert refused.value.field == "active"
    assert [s.active for s in stages] == [False, False, False, False, True]


def test_a_new_stage_goes_last_with_a_unique_key_and_starter_wording(db_session):
    shop = make_workspace(db_session, "Fern & Co")
    added = services.add_stage(db_session, shop, "  Win-back ", "nps")
    again = services.add_stage(db_session, shop, "Win back!", "csat")
    db_session.commit()
    assert [s.key for s in services.stages_in_order(db_session, shop.id)][-2:] == [
        "win-back",
        "win-back-2",
    ]
    assert added.position > stage_named(db_session, shop, "advocacy").position
    assert again.position == added.position + 1
    assert "Fern & Co" in added.question and "recommend" in added.question
    assert added.comment_prompt and added.thank_you and added.touchpoints == []
    with pytest.raises(JourneyError, match="Another stage") as refused:
        services.add_stage(db_session, shop, "WIN-BACK", "nps")
    assert refused.value.field == "name"
    with pytest.raises(JourneyError, match="scales listed"):
        services.add_stage(db_session, shop, "Later", "stars")


def test_a_name_without_letters_or_digits_still_gets_a_key(db_session):
    shop = make_workspace(db_session)
    stage = services.add_stage(db_session, shop, "⭐⭐⭐", "csat")
    touchpoint = services.add_touchpoint(db_session, stage, "☎", "phone")
    assert (stage.key, touchpoint.key) == ("stage", "touchpoint")


def test_a_touchpoint_named_open_link_does_not_take_the_open_links_key(db_session):
    shop = make_workspace(db_session)
    stage = stage_named(db_session, shop, "purchase")
    assert services.add_touchpoint(db_session, stage, "Open link", "web").key == "open-link-2"


def test_stages_move_one_place_and_stay_put_at_the_ends(db_session):
    shop = make_workspace(db_session)

    def order() -> list[str]:
        db_session.expire_all()
        return [s.key for s in services.stages_in_order(db_session, shop.id)]

    services.move_stage(db_session, stage_named(db_session, shop, "retention"), -1)
    assert order() == ["awareness", "consideration", "retention", "purchase", "advocacy"]
    services.move_stage(db_session, stage_named(db_session, shop, "awareness"), -1)
    services.move_stage(db_session, stage_named(db_session, shop, "advocacy"), 1)
    services.move_stage(db_session, stage_named(db_session, shop, "consideration"), 5)
    assert order() == ["awareness", "consideration", "retention", "purchase", "advocacy"]
    services.move_stage(db_session, stage_named(db_session, shop, "awareness"), 1)
    assert order() == ["consideration", "awareness", "retention", "purchase", "advocacy"]


def test_touchpoints_are_added_renamed_and_invited_to(db_session):
    shop = make_workspace(db_session)
    stage = stage_named(db_session, shop, "purchase")
    touchpoint = services.add_touchpoint(db_session, stage, "Click & collect", "store")
    db_session.commit()
    assert (touchpoint.key, touchpoint.channel) == ("click-collect", "store")
    issued = make_invitation(db_session, shop, stage="purchase", touchpoint="click-collect")
    services.update_touchpoint(db_session, touchpoint, "Collected in store", "other")
    db_session.commit()
    assert (touchpoint.key, touchpoint.name, touchpoint.channel) == (
        "click-collect",
        "Collected in store",
        "other",
    )
    assert find_link(db_session, issued.token).touchpoint.name == "Collected in store"


@pytest.mark.parametrize(
    ("name", "channel", "field", "message"),
    [
        ("", "web", "name", "enter a name"),
        ("n" * 81, "web", "name", "under 80"),
        ("checkout", "web", "name", "already has a touchpoint"),
        ("Fax", "fax", "channel", "channels listed"),
    ],
)
def test_bad_touchpoints_are_refused(db_session, name, channel, field, message):
    shop = make_workspace(db_session)
    stage = stage_named(db_session, shop, "purchase")
    with pytest.raises(JourneyError, match=message) as refused:
        services.add_touchpoint(db_session, stage, name, channel)
    assert refused.value.field == field
    delivered = next(t for t in stage.touchpoints if t.key == "order-delivered")
    with pytest.raises(JourneyError, match=message):
        services.update_touchpoint(db_session, delivered, name, channel)


def test_only_unused_touchpoints_can_be_removed_and_nothing_is_lost(db_session):
    shop = make_workspace(db_session)
    stage = stage_named(db_session, shop, "purchase")
    make_response(db_session, shop, stage="purchase", touchpoint="checkout")
    invited = services.add_touchpoint(db_session, stage, "Gift card", "web")
    unused = services.add_touchpoint(db_session, stage, "Pop-up stall", "store")
    db_session.commit()
    make_invitation(db_session, shop, stage="purchase", touchpoint="gift-card")
    checkout = next(t for t in stage.touchpoints if t.key == "checkout")
    for in_use in (checkout, invited):
        with pytest.raises(JourneyError, match="stays") as refused:
            editing.remove_touchpoint(db_session, in_use)
        assert refused.value.field == "touchpoint"
        db_session.rollback()
    editing.remove_touchpoint(db_session, unused)
    db_session.commit()
    assert db_session.get(Touchpoint, unused.id) is None
    assert db_session.scalar(select(func.count()).select_from(Response)) == 1
    db_session.expire_all()
    assert {t.key for t in stage.touchpoints} == {"checkout", "order-delivered", "gift-card"}


def test_ids_of_another_workspace_are_not_found(db_session):
    mine, theirs = make_workspace(db_session), make_workspace(db_session)
    their_stage = stage_named(db_session, theirs, "purchase")
    my_stage = stage_named(db_session, mine, "purchase")
    with pytest.raises(services.NotInWorkspace):
        services.stage_of(db_session, mine.id, their_stage.id)
    with pytest.raises(services.NotInWorkspace):
        services.touchpoint_of(db_session, my_stage, their_stage.touchpoints[0].id)
    assert services.stage_of(db_session, theirs.id, their_stage.id) is their_stage


def test_an_unused_stage_is_removed_with_its_touchpoints_and_a_used_one_stays(db_session):
    shop = make_workspace(db_session)
    mistake = services.add_stage(db_session, shop, "Oops", "csat")
    services.add_touchpoint(db_session, mistake, "Nothing yet", "web")
    db_session.commit()
    editing.remove_stage(db_session, mistake)
    db_session.commit()
    assert [s.key for s in services.stages_in_order(db_session, shop.id)] == [
        "awareness",
        "consideration",
        "purchase",
        "retention",
        "advocacy",
    ]
    assert db_session.scalar(select(func.count()).select_from(Touchpoint)) == 10
    purchase = stage_named(db_session, shop, "purchase")
    make_invitation(db_session, shop, stage="purchase")
    with pytest.raises(JourneyError, match="switch it off instead") as refused:
        editing.remove_stage(db_session, purchase)
    assert refused.value.field == "stage"
    db_session.rollback()
    # The only active stage left stays, even unused.
    stages = services.stages_in_order(db_session, shop.id)
    for stage in stages:
        if stage.key != "awareness":
            editing.update_stage(db_session, stage, changes_of(stage, active=False))
    with pytest.raises(JourneyError, match="At least one stage"):
        editing.remove_stage(db_session, stage_named(db_session, shop, "awareness"))
