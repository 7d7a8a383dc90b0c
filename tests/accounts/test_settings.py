from __future__ import annotations

import dataclasses

import pytest

from feedback.accounts import services
from tests.factories import NOW, PASSWORD, make_owner, make_response, make_workspace
from tests.pages import csrf_token_from


def current(workspace) -> services.WorkspaceSettings:
    return services.WorkspaceSettings(
        **{
            f.name: getattr(workspace, f.name)
            for f in dataclasses.fields(services.WorkspaceSettings)
        }
    )


def test_settings_are_saved(db_session):
    workspace = make_workspace(db_session)
    changed = dataclasses.replace(
        current(workspace),
        name="  New   Name ",
        timezone="Europe/Berlin",
        brand_colour="#1A4D8F",
        throttle_days=0,
        contact_cap_days=7,
        reminder_days=0,
        follow_up_sla_hours=4,
        sender_name="Shop",
        sender_address="Hello@Shop.Example",
    )
    services.update_settings(db_session, workspace, changed)
    assert (workspace.name, workspace.timezone, workspace.brand_colour) == (
        "New Name",
        "Europe/Berlin",
        "#1a4d8f",
    )
    assert (workspace.throttle_days, workspace.contact_cap_days, workspace.reminder_days) == (
        0,
        7,
        0,
    )
    assert workspace.sender_address == "hello@shop.example"


def test_a_new_consent_wording_gets_a_new_version_and_old_records_keep_theirs(db_session):
    workspace = make_workspace(db_session)
    make_response(db_session, workspace, opt_in=True, display_name="Ann")
    old_text = workspace.consent_text
    services.update_settings(db_session, workspace, current(workspace))
    assert workspace.consent_version == 1
    services.update_settings(
        db_session, workspace, dataclasses.replace(current(workspace), consent_text="New wording.")
    )
    db_session.commit()
    assert (workspace.consent_version, workspace.consent_text) == (2, "New wording.")
    from sqlalchemy import select

    from feedback.testimonials.models import Testimonial

    record = db_session.scalar(select(Testimonial))
    assert (record.consent_text, record.consent_version) == (old_text, 1)
    make_response(db_session, workspace, opt_in=True, now=NOW)
    newest = db_session.scalars(select(Testimonial).order_by(Testimonial.id.desc())).first()
    assert (newest.consent_text, newest.consent_version) == ("New wording.", 2)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone", "not a time zone"),
        ({"brand_colour": "green"}, "brand_colour", "like #2f6f4f"),
        ({"brand_colour": "#ffee88"}, "brand_colour", "hard to read"),
        ({"name": "   "}, "name", "needs a name"),
        ({"consent_text": "  "}, "consent_text", "cannot be empty"),
        ({"sender_address": "not mail"}, "sender_address", "not an email"),
    ],
)
def test_bad_settings_are_refused_with_the_field_named(db_session, change, field, message):
    workspace = make_workspace(db_session)
    with pytest.raises(services.SettingsError, match=message) as error:
        services.update_settings(
            db_session, workspace, dataclasses.replace(current(workspace), **change)
        )
    assert error.value.field == field


def test_owners_change_settings_on_the_page(client, db_session, auth):
    user, workspace = make_owner(db_session, "Acme Plants")
    auth.login(user.email, PASSWORD)
    page = client.get("/settings")
    assert page.status_code == 200 and 'value="Acme Plants"' in page.text
    data = {
        f.name: str(getattr(workspace, f.name) or "")
        for f in dataclasses.fields(services.WorkspaceSettings)
    }
    data.update(csrf_token=csrf_token_from(page), reminder_days="5", name="<b>Acme</b>")
    saved = client.post("/settings", data=data)
    assert saved.status_code == 302
    after = client.get("/settings")
    assert "Settings saved." in after.text and "&lt;b&gt;Acme&lt;/b&gt;" in after.text
    db_session.expire_all()
    assert db_session.get(type(workspace), workspace.id).reminder_days == 5
    for bad in (
        {"reminder_days": "abc"},
        {"reminder_days": "99"},
        {"throttle_days": "-1"},
        {"brand_colour": "#ffffff"},
        {"timezone": "Nowhere"},
    ):
        refused = client.post("/settings", data={**data, **bad})
        assert refused.status_code == 422, bad
    assert client.post("/settings", data={**data, "csrf_token": "forged"}).status_code == 400


def test_settings_need_a_login(client):
    assert client.get("/settings").status_code == 302
