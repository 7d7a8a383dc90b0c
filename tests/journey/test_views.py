"""The journey setup pages: what owners see and send, and what is refused."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from feedback.db import utcnow
from feedback.journey.models import Stage, Touchpoint
from feedback.journey.services import stages_in_order
from feedback.surveys.models import Response
from tests.factories import PASSWORD, make_invitation, make_owner, make_response, make_workspace
from tests.pages import csrf_token_from


@pytest.fixture
def owner(client, db_session, auth):
    user, workspace = make_owner(db_session, "Acme Plants")
    auth.login(user.email, PASSWORD)
    return workspace


def stage_of(db_session, workspace, key: str) -> Stage:
    db_session.expire_all()
    return next(s for s in stages_in_order(db_session, workspace.id) if s.key == key)


def touchpoint_exists(db_session, touchpoint_id: int) -> bool:
    """Asked of the database, not of the session's identity map."""
    count = select(func.count()).select_from(Touchpoint).where(Touchpoint.id == touchpoint_id)
    return db_session.scalar(count) == 1


def stage_data(stage: Stage, page, **override) -> dict[str, str]:
    data = {
        "name": stage.name,
        "question": stage.question,
        "comment_prompt": stage.comment_prompt,
        "thank_you": stage.thank_you,
        "scale": stage.scale,
        "active": "y" if stage.active else "",
        "csrf_token": csrf_token_from(page),
    }
    data.update(override)
    return {k: v for k, v in data.items() if v != ""}


def test_the_overview_lists_the_stages_in_journey_order(client, owner):
    page = client.get("/settings/journey")
    assert page.status_code == 200
    names = re.findall(r'<h2><a href="/settings/journey/\d+">([^<]+)</a>', page.text)
    assert names == [
        "Awareness",
        "Consideration",
        "Purchase decision",
        "Retention",
        "Loyalty &amp; advocacy",
    ]
    assert "<code>advocacy</code>" in page.text and "Likelihood to recommend (0-10)" in page.text
    assert 'aria-current="page">Journey setup' in page.text


def test_owners_edit_a_stage_and_what_they_typed_is_escaped(client, db_session, owner):
    stage = stage_of(db_session, owner, "purchase")
    page = client.get(f"/settings/journey/{stage.id}")
    assert page.status_code == 200 and 'value="Purchase decision"' in page.text
    saved = client.post(
        f"/settings/journey/{stage.id}",
        data=stage_data(stage, page, name="<script>alert(1)</script> Buying", scale="ces"),
    )
    assert saved.status_code == 303
    after = client.get(saved.headers["Location"])
    assert "Stage saved." in after.text
    assert "<script>alert(1)" not in after.text and "&lt;script&gt;alert(1)" in after.text
    overview = client.get("/settings/journey")
    assert "<script>alert(1)" not in overview.text
    stage = stage_of(db_session, owner, "purchase")
    assert (stage.key, stage.scale) == ("purchase", "ces")
    assert stage.name == "<script>alert(1)</script> Buying"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"name": ""}, "Please enter a name."),
        ({"name": "n" * 81}, "Please keep it under 80 characters."),
        ({"question": "q" * 5000}, "Please keep it under 300 characters."),
        ({"scale": "stars"}, "Please choose one of the scales listed."),
        ({"name": "Retention"}, "Another stage already has this name."),
        ({"thank_you": "\x00\x07"}, "Please enter the thank-you line."),
    ],
)
def test_a_refused_stage_edit_keeps_what_was_typed(client, db_session, owner, override, message):
    stage = stage_of(db_session, owner, "purchase")
    page = client.get(f"/settings/journey/{stage.id}")
    data = stage_data(stage, page, **{"question": "My own question?", **override})
    refused = client.post(f"/settings/journey/{stage.id}", data=data)
    assert refused.status_code == 422
    assert message in refused.text
    if "question" not in override:
        assert "My own question?</textarea>" in refused.text
    assert stage_of(db_session, owner, "purchase").name == "Purchase decision"


def test_a_stage_with_answers_keeps_its_scale(client, db_session, owner):
    make_response(db_session, owner, stage="purchase")
    stage = stage_of(db_session, owner, "purchase")
    page = client.get(f"/settings/journey/{stage.id}")
    assert "This stage has answers" in page.text
    refused = client.post(
        f"/settings/journey/{stage.id}", data=stage_data(stage, page, scale="nps")
    )
    assert refused.status_code == 422 and "mix two scales" in refused.text
    assert stage_of(db_session, owner, "purchase").scale == "csat"


def test_an_inactive_stage_refuses_new_invitations_and_the_last_one_stays_active(
    client, db_session, owner
):
    for key in ("awareness", "consideration", "purchase", "retention"):
        stage = stage_of(db_session, owner, key)
        page = client.get(f"/settings/journey/{stage.id}")
        assert (
            client.post(
                f"/settings/journey/{stage.id}", data=stage_data(stage, page, active="")
            ).status_code
            == 303
        )
    last = stage_of(db_session, owner, "advocacy")
    page = client.get(f"/settings/journey/{last.id}")
    refused = client.post(f"/settings/journey/{last.id}", data=stage_data(last, page, active=""))
    assert refused.status_code == 422 and "At least one stage must stay active." in refused.text
    assert "inactive" in client.get("/settings/journey").text
    from feedback.journey.services import UnknownStage

    with pytest.raises(UnknownStage):
        make_invitation(db_session, owner, stage="purchase")


def test_adding_a_stage_takes_the_owner_to_it_and_a_double_submit_adds_one(
    client, db_session, owner
):
    page = client.get("/settings/journey")
    data = {"name": "Win-back", "scale": "nps", "csrf_token": csrf_token_from(page)}
    added = client.post("/settings/journey", data=data)
    assert added.status_code == 303
    stage = stage_of(db_session, owner, "win-back")
    assert added.headers["Location"].endswith(f"/settings/journey/{stage.id}")
    assert "No touchpoints yet" in client.get(added.headers["Location"]).text
    again = client.post("/settings/journey", data=data)
    assert again.status_code == 422 and "Another stage already has this name." in again.text
    assert 'value="Win-back"' in again.text
    assert [s.key for s in stages_in_order(db_session, owner.id)].count("win-back") == 1
    for bad, message in (
        ({"name": ""}, "Please enter a name."),
        ({"scale": "0"}, "Please choose one of the scales listed."),
        ({"name": "x" * 10_000}, "Please keep it under 80 characters."),
    ):
        refused = client.post("/settings/journey", data={**data, **bad})
        assert refused.status_code == 422 and message in refused.text


def test_stages_are_moved_with_buttons(client, db_session, owner):
    retention = stage_of(db_session, owner, "retention")
    page = client.get("/settings/journey")
    moved = client.post(
        f"/settings/journey/{retention.id}/move",
        data={"direction": "up", "csrf_token": csrf_token_from(page)},
    )
    assert moved.status_code == 303
    assert [s.key for s in stages_in_order(db_session, owner.id)][2:4] == ["retention", "purchase"]
    tampered = client.post(
        f"/settings/journey/{retention.id}/move",
        data={"direction": "sideways", "csrf_token": csrf_token_from(page)},
    )
    assert tampered.status_code == 400


def test_touchpoints_are_added_renamed_and_removed_on_the_stage_page(client, db_session, owner):
    stage = stage_of(db_session, owner, "purchase")
    page = client.get(f"/settings/journey/{stage.id}")
    token = csrf_token_from(page)
    added = client.post(
        f"/settings/journey/{stage.id}/touchpoints",
        data={"new-name": "Pop-up <b>stall</b>", "new-channel": "store", "csrf_token": token},
    )
    assert added.status_code == 303
    shown = client.get(added.headers["Location"]).text
    assert "pop-up-b-stall-b" in shown and "Pop-up &lt;b&gt;stall&lt;/b&gt;" in shown
    touchpoint = next(
        t for t in stage_of(db_session, owner, "purchase").touchpoints if t.channel == "store"
    )
    renamed = client.post(
        f"/settings/journey/{stage.id}/touchpoints/{touchpoint.id}",
        data={
            f"tp{touchpoint.id}-name": "Pop-up stall",
            f"tp{touchpoint.id}-channel": "other",
            "csrf_token": token,
        },
    )
    assert renamed.status_code == 303
    db_session.expire_all()
    assert (touchpoint.name, touchpoint.channel) == ("Pop-up stall", "other")
    refused = client.post(
        f"/settings/journey/{stage.id}/touchpoints/{touchpoint.id}",
        data={
            f"tp{touchpoint.id}-name": "Checkout",
            f"tp{touchpoint.id}-channel": "other",
            "csrf_token": token,
        },
    )
    assert refused.status_code == 422
    assert "already has a touchpoint with this name" in refused.text
    assert 'value="Checkout"' in refused.text and 'value="Order delivered"' in refused.text
    removed = client.post(
        f"/settings/journey/{stage.id}/touchpoints/{touchpoint.id}/remove",
        data={"csrf_token": token},
    )
    assert removed.status_code == 303
    assert not touchpoint_exists(db_session, touchpoint.id)


def test_a_touchpoint_in_use_is_not_removed(client, db_session, owner):
    make_invitation(db_session, owner, stage="purchase", touchpoint="checkout")
    stage = stage_of(db_session, owner, "purchase")
    checkout = next(t for t in stage.touchpoints if t.key == "checkout")
    page = client.get(f"/settings/journey/{stage.id}")
    assert "in use" in page.text
    refused = client.post(
        f"/settings/journey/{stage.id}/touchpoints/{checkout.id}/remove",
        data={"csrf_token": csrf_token_from(page)},
    )
    assert refused.status_code == 409 and "rename it instead" in refused.text
    assert touchpoint_exists(db_session, checkout.id)


def test_another_workspaces_stages_and_touchpoints_answer_404(client, db_session, owner):
    other = make_workspace(db_session)
    theirs = stage_of(db_session, other, "purchase")
    their_tp = theirs.touchpoints[0]
    mine = stage_of(db_session, owner, "purchase")
    token = csrf_token_from(client.get("/settings/journey"))
    assert client.get(f"/settings/journey/{theirs.id}").status_code == 404
    posts = [
        (f"/settings/journey/{theirs.id}", {"name": "Mine now"}),
        (f"/settings/journey/{theirs.id}/move", {"direction": "up"}),
        (f"/settings/journey/{theirs.id}/touchpoints", {"new-name": "X", "new-channel": "web"}),
        (f"/settings/journey/{theirs.id}/touchpoints/{their_tp.id}", {}),
        (f"/settings/journey/{theirs.id}/touchpoints/{their_tp.id}/remove", {}),
        # Their touchpoint under my stage is not found either.
        (f"/settings/journey/{mine.id}/touchpoints/{their_tp.id}", {}),
        (f"/settings/journey/{mine.id}/touchpoints/{their_tp.id}/remove", {}),
    ]
    for path, data in posts:
        assert client.post(path, data={**data, "csrf_token": token}).status_code == 404, path
    db_session.expire_all()
    assert stage_of(db_session, other, "purchase").name == "Purchase decision"
    assert touchpoint_exists(db_session, their_tp.id)


def test_journey_pages_need_a_login(client, db_session):
    workspace = make_workspace(db_session)
    stage = stage_of(db_session, workspace, "purchase")
    for path in ("/settings/journey", f"/settings/journey/{stage.id}"):
        assert client.get(path).status_code == 302
    token = csrf_token_from(client.get("/login"))
    sent = client.post(
        "/settings/journey", data={"name": "X", "scale": "csat", "csrf_token": token}
    )
    assert sent.status_code == 302 and "/login" in sent.headers["Location"]
    assert len(stages_in_order(db_session, workspace.id)) == 5


def test_journey_posts_without_a_csrf_token_are_refused(client, db_session, owner):
    stage = stage_of(db_session, owner, "purchase")
    checkout = stage.touchpoints[0]
    for path, data in (
        ("/settings/journey", {"name": "X", "scale": "csat"}),
        (f"/settings/journey/{stage.id}", {"name": "X"}),
        (f"/settings/journey/{stage.id}/move", {"direction": "up"}),
        (f"/settings/journey/{stage.id}/touchpoints", {"new-name": "X", "new-channel": "web"}),
        (f"/settings/journey/{stage.id}/touchpoints/{checkout.id}/remove", {}),
    ):
        assert client.post(path, data=data).status_code == 400, path
        assert client.post(path, data={**data, "csrf_token": "forged"}).status_code == 400, path
    assert stage_of(db_session, owner, "purchase").name == "Purchase decision"
    assert len(stages_in_order(db_session, owner.id)) == 5


def test_a_stage_the_owner_adds_is_answered_and_counted_like_the_defaults(
    client, db_session, owner
):
    page = client.get("/settings/journey")
    added = client.post(
        "/settings/journey",
        data={"name": "After-sales care", "scale": "ces", "csrf_token": csrf_token_from(page)},
    )
    stage_page = client.get(added.headers["Location"])
    client.post(
        f"{added.headers['Location']}/touchpoints",
        data={
            "new-name": "Repair done",
            "new-channel": "store",
            "csrf_token": csrf_token_from(stage_page),
        },
    )
    issued = make_invitation(
        db_session, owner, stage="after-sales-care", touchpoint="repair-done", now=utcnow()
    )
    form = client.get(f"/s/{issued.token}")
    assert form.status_code == 200 and "Very easy" in form.text and 'value="7"' in form.text
    answered = client.post(
        f"/s/{issued.token}",
        data={"rating": "6", "comment": "Quick and friendly.", "csrf_token": csrf_token_from(form)},
    )
    assert answered.status_code == 303
    dashboard = client.get("/dashboard")
    card = dashboard.text.split(">After-sales care</a></h2>")[1].split("</li>")[0]
    assert "6.0 / 7" in card


def test_the_owner_previews_and_tries_a_stages_form_without_storing_anything(
    client, db_session, owner
):
    stage = stage_of(db_session, owner, "advocacy")
    assert (
        f'href="/settings/journey/{stage.id}/preview"'
        in client.get(f"/settings/journey/{stage.id}").text
    )
    page = client.get(f"/settings/journey/{stage.id}/preview")
    assert page.status_code == 200
    assert "Preview: this is what customers see" in page.text
    assert stage.question in page.text and 'value="10"' in page.text
    token = csrf_token_from(page)
    wrong = client.post(
        f"/settings/journey/{stage.id}/preview",
        data={"rating": "11", "comment": "<b>hi</b>", "csrf_token": token},
    )
    assert wrong.status_code == 422 and "Please choose a rating from 0 to 10." in wrong.text
    assert "&lt;b&gt;hi&lt;/b&gt;</textarea>" in wrong.text
    too_long = client.post(
        f"/settings/journey/{stage.id}/preview",
        data={"rating": "9", "comment": "x" * 2001, "csrf_token": token},
    )
    assert too_long.status_code == 422 and "under 2,000 characters" in too_long.text
    fine = client.post(
        f"/settings/journey/{stage.id}/preview",
        data={"rating": "9", "comment": "Great", "csrf_token": token},
    )
    assert fine.status_code == 200 and "That answer would be accepted" in fine.text
    assert stage.thank_you in fine.text
    assert db_session.scalar(select(func.count()).select_from(Response)) == 0
    other = stage_of(db_session, make_workspace(db_session), "advocacy")
    assert client.get(f"/settings/journey/{other.id}/preview").status_code == 404


def test_the_dashboard_leaves_out_a_switched_off_stage_until_it_has_figures(
    client, db_session, owner
):
    awareness = stage_of(db_session, owner, "awareness")
    retention = stage_of(db_session, owner, "retention")
    make_response(
        db_session, owner, stage="retention", touchpoint="onboarding-complete", now=utcnow()
    )
    for stage in (awareness, retention):
        page = client.get(f"/settings/journey/{stage.id}")
        client.post(f"/settings/journey/{stage.id}", data=stage_data(stage, page, active=""))
    dashboard = client.get("/dashboard").text
    names = re.findall(r'<h2><a href="/stages/[^"]+">([^<]+)</a>', dashboard)
    assert "Awareness" not in names and "Retention" in names
    assert '>Retention</a> <span class="label label-neutral">inactive</span>' in dashboard


def test_a_stage_added_by_mistake_is_removed_from_its_page(client, db_session, owner):
    page = client.get("/settings/journey")
    added = client.post(
        "/settings/journey",
        data={"name": "Oops", "scale": "csat", "csrf_token": csrf_token_from(page)},
    )
    stage_page = client.get(added.headers["Location"])
    assert "Remove “Oops”" in stage_page.text
    removed = client.post(
        f"{added.headers['Location']}/remove", data={"csrf_token": csrf_token_from(stage_page)}
    )
    assert removed.status_code == 303
    assert "Stage “Oops” removed." in client.get("/settings/journey").text
    purchase = stage_of(db_session, owner, "purchase")
    make_invitation(db_session, owner, stage="purchase", now=utcnow())
    page = client.get(f"/settings/journey/{purchase.id}")
    assert "Remove “Purchase decision”" not in page.text
    refused = client.post(
        f"/settings/journey/{purchase.id}/remove", data={"csrf_token": csrf_token_from(page)}
    )
    assert refused.status_code == 409 and "switch it off instead" in refused.text
    other = stage_of(db_session, make_workspace(db_session), "awareness")
    assert (
        client.post(
            f"/settings/journey/{other.id}/remove", data={"csrf_token": csrf_token_from(page)}
        ).status_code
        == 404
    )
