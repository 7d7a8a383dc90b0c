from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from feedback.accounts import services
from feedback.accounts.models import ApiKey
from tests.factories import NOW, PASSWORD, make_owner, make_workspace
from tests.pages import csrf_token_from


def test_a_key_is_shown_once_and_only_its_hash_and_prefix_are_stored(db_session):
    workspace = make_workspace(db_session)
    issued = services.create_api_key(db_session, workspace, "  Shop   orders ", NOW)
    db_session.commit()
    assert issued.secret.startswith("fbk_") and len(issued.secret) > 40
    row = db_session.execute(select(ApiKey.__table__)).one()._mapping
    assert issued.secret not in [str(v) for v in row.values()]
    assert row["key_hash"] == services._hash_api_key(issued.secret)
    assert issued.secret.startswith(row["prefix"]) and len(row["prefix"]) == 12
    assert row["name"] == "Shop orders"


def test_only_an_active_known_key_authenticates(db_session):
    workspace = make_workspace(db_session)
    issued = services.create_api_key(db_session, workspace, "k", NOW)
    assert services.authenticate_api_key(db_session, issued.secret, NOW) is issued.api_key
    for wrong in ("", "fbk_", issued.secret + "x", issued.secret[:-1], "Bearer x", "x" * 500):
        assert services.authenticate_api_key(db_session, wrong, NOW) is None
    services.revoke_api_key(db_session, workspace.id, issued.api_key.id, NOW)
    assert services.authenticate_api_key(db_session, issued.secret, NOW) is None


def test_last_used_is_recorded_without_a_write_per_call(db_session):
    workspace = make_workspace(db_session)
    issued = services.create_api_key(db_session, workspace, "k", NOW)
    services.authenticate_api_key(db_session, issued.secret, NOW)
    assert issued.api_key.last_used_at == NOW
    services.authenticate_api_key(db_session, issued.secret, NOW + dt.timedelta(minutes=1))
    assert issued.api_key.last_used_at == NOW
    later = NOW + dt.timedelta(minutes=6)
    services.authenticate_api_key(db_session, issued.secret, later)
    assert issued.api_key.last_used_at == later


def test_a_workspace_cannot_see_or_revoke_another_workspaces_keys(db_session):
    mine = make_workspace(db_session)
    theirs = make_workspace(db_session)
    their_key = services.create_api_key(db_session, theirs, "theirs", NOW).api_key
    services.create_api_key(db_session, mine, "mine", NOW)
    assert [k.name for k in services.api_keys_of(db_session, mine.id)] == ["mine"]
    with pytest.raises(services.ApiKeyNotFound):
        services.revoke_api_key(db_session, mine.id, their_key.id, NOW)
    assert their_key.revoked_at is None


def test_create_api_key_prints_the_key_last(runner, db_session):
    make_workspace(db_session, "Acme Plants")
    result = runner.invoke(
        args=["feedback", "create-api-key", "--workspace", "acme-plants", "--name", "CRM"]
    )
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    assert services.authenticate_api_key(db_session, secret, NOW) is not None
    missing = runner.invoke(args=["feedback", "create-api-key", "--workspace", "nope"])
    assert missing.exit_code != 0 and "No workspace" in missing.output


def test_owners_create_list_and_revoke_keys_in_settings(client, db_session, auth):
    user, _ = make_owner(db_session)
    auth.login(user.email, PASSWORD)
    page = client.get("/settings/api-keys")
    assert page.status_code == 200 and "No keys yet." in page.text
    created = client.post(
        "/settings/api-keys", data={"name": "<b>Shop</b>", "csrf_token": csrf_token_from(page)}
    )
    assert created.status_code == 200
    secret = re.search(r'id="new-key"[^>]*value="(fbk_[^"]+)"', created.text).group(1)
    assert "&lt;b&gt;Shop&lt;/b&gt;" in created.text and "<b>Shop</b>" not in created.text
    listing = client.get("/settings/api-keys")
    assert secret not in listing.text
    assert secret[:12] + "…" in listing.text
    key_id = db_session.scalar(select(ApiKey.id))
    revoked = client.post(
        f"/settings/api-keys/{key_id}/revoke", data={"csrf_token": csrf_token_from(listing)}
    )
    assert revoked.status_code == 302
    assert "Revoked" in client.get("/settings/api-keys").text
    assert services.authenticate_api_key(db_session, secret, NOW) is None


def test_key_settings_refuse_bad_input_and_other_workspaces(client, db_session, auth):
    user, _ = make_owner(db_session)
    other = make_workspace(db_session)
    their_key = services.create_api_key(db_session, other, "theirs", NOW).api_key
    db_session.commit()
    auth.login(user.email, PASSWORD)
    page = client.get("/settings/api-keys")
    token = csrf_token_from(page)
    assert (
        client.post("/settings/api-keys", data={"name": "", "csrf_token": token}).status_code == 422
    )
    long_name = client.post("/settings/api-keys", data={"name": "n" * 81, "csrf_token": token})
    assert long_name.status_code == 422
    assert client.post("/settings/api-keys", data={"name": "no csrf"}).status_code == 400
    assert (
        client.post(
            f"/settings/api-keys/{their_key.id}/revoke", data={"csrf_token": token}
        ).status_code
        == 404
    )
    assert client.post(f"/settings/api-keys/{their_key.id}/revoke").status_code == 400
    assert (
        client.post("/settings/api-keys/999999/revoke", data={"csrf_token": token}).status_code
        == 404
    )
    db_session.expire_all()
    assert db_session.get(ApiKey, their_key.id).revoked_at is None
    assert db_session.scalar(select(ApiKey.id).where(ApiKey.workspace_id != other.id)) is None


def test_key_settings_need_a_login(client):
    assert client.get("/settings/api-keys").status_code == 302
    assert client.post("/settings/api-keys/1/revoke").status_code in (302, 400)
