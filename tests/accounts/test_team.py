"""The team: owners add people (who choose their own password), change roles, remove them."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from feedback.accounts import services
from feedback.accounts.models import Membership
from feedback.delivery.models import OutboxMessage
from feedback.followups.services import assign_follow_up
from tests.factories import NOW, PASSWORD, make_owner, make_response
from tests.pages import csrf_token_from

NEW_PASSWORD = "plants are friends 42"


@pytest.fixture
def owner(client, db_session, auth):
    user, workspace = make_owner(db_session, "Acme Plants")
    auth.login(user.email, PASSWORD)
    return user, workspace


def add(client, email: str, role: str = "member"):
    page = client.get("/settings/team")
    return client.post(
        "/settings/team", data={"email": email, "role": role, "csrf_token": csrf_token_from(page)}
    )


def roles(db_session, workspace) -> dict[str, str]:
    db_session.expire_all()
    return {m.user.email: m.role for m in services.team_of(db_session, workspace.id)}


def password_link_in(payload: dict) -> str:
    match = re.search(r"http://localhost(/password/set/\S+)", payload["text"])
    assert match, payload["text"]
    return match.group(1)


def emails(db_session) -> list[dict]:
    db_session.expire_all()
    return [m.payload for m in db_session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]


def test_a_new_member_gets_an_email_and_chooses_a_password(app, client, db_session, owner):
    user, workspace = owner
    added = add(client, "  Sam@Example.com ")
    assert added.status_code == 200
    assert "sam@example.com is in the team." in added.text
    # The link goes to Sam's mailbox only, never onto the owner's screen.
    assert "/password/set/" not in added.text and "invite-link" not in added.text
    [email] = emails(db_session)
    assert email["to"] == "sam@example.com"
    link = password_link_in(email)
    assert user.email in email["text"]
    assert "/password/set/" not in client.get("/settings/team").text
    assert roles(db_session, workspace) == {user.email: "owner", "sam@example.com": "member"}

    sam = app.test_client()
    form = sam.get(link)
    assert form.status_code == 200
    chosen = sam.post(
        link,
        data={
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
            "csrf_token": csrf_token_from(form),
        },
    )
    assert chosen.status_code == 303
    assert "Acme Plants" in sam.get("/dashboard").text
    # A member sees the team but cannot change it.
    page = sam.get("/settings/team")
    assert page.status_code == 200 and "Add someone" not in page.text
    token = csrf_token_from(page)
    for path, data in (
        ("/settings/team", {"email": "x@example.com", "role": "owner"}),
        (f"/settings/team/{user.id}/role", {"role": "member"}),
        (f"/settings/team/{user.id}/remove", {}),
    ):
        assert sam.post(path, data={**data, "csrf_token": token}).status_code == 403, path
    assert roles(db_session, workspace)[user.email] == "owner"


def test_someone_with_an_account_is_added_without_a_new_password(client, db_session, owner):
    _, workspace = owner
    other, _ = make_owner(db_session, "Other Shop", email="pat@example.com")
    added = add(client, "pat@example.com", "owner")
    # The page reads the same whether or not the address already had a login.
    new_person = add(client, "quinn@example.com", "owner")
    callout = re.compile(r'<p class="callout" role="status">.*?</p>', re.S)
    assert callout.findall(added.text) == [
        c.replace("quinn@", "pat@") for c in callout.findall(new_person.text)
    ]
    assert "/password/set/" not in added.text
    pat_email, _quinn_email = emails(db_session)
    assert pat_email["to"] == "pat@example.com"
    assert "Log in as usual" in pat_email["text"] and "/password/set/" not in pat_email["text"]
    assert "http://localhost/account" in pat_email["text"]  # where to leave
    assert roles(db_session, workspace)["pat@example.com"] == "owner"
    assert services.authenticate(db_session, "pat@example.com", PASSWORD) == other


@pytest.mark.parametrize(
    ("email", "role", "message"),
    [
        ("", "member", "Please enter their email."),
        ("not an address", "member", "That is not an email address."),
        ("a@b.c" + "x" * 300, "member", "Field cannot be longer than 254 characters."),
        ("new@example.com", "admin", "Please choose owner or member."),
    ],
)
def test_bad_additions_are_refused_and_keep_what_was_typed(
    client, db_session, owner, email, role, message
):
    refused = add(client, email, role)
    assert refused.status_code == 422 and message in refused.text
    if email and len(email) < 254:
        assert f'value="{email}"' in refused.text
    assert db_session.scalars(select(OutboxMessage)).all() == []


def test_adding_the_same_person_twice_adds_them_once(client, db_session, owner):
    user, workspace = owner
    assert add(client, "sam@example.com").status_code == 200
    again = add(client, "SAM@example.com")
    assert again.status_code == 422 and "sam@example.com is already in the team." in again.text
    assert add(client, user.email).status_code == 422
    assert len(roles(db_session, workspace)) == 2


def test_roles_change_and_members_are_removed_but_a_workspace_keeps_an_owner(
    client, db_session, owner
):
    user, workspace = owner
    add(client, "sam@example.com")
    sam = services.user_by_email(db_session, "sam@example.com")
    token = csrf_token_from(client.get("/settings/team"))
    made_owner = client.post(
        f"/settings/team/{sam.id}/role", data={"role": "owner", "csrf_token": token}
    )
    assert made_owner.status_code == 303
    assert roles(db_session, workspace)["sam@example.com"] == "owner"
    for_self = client.post(
        f"/settings/team/{user.id}/role", data={"role": "member", "csrf_token": token}
    )
    assert for_self.status_code == 409 and "ask another owner" in for_self.text
    tampered = client.post(
        f"/settings/team/{sam.id}/role", data={"role": "admin", "csrf_token": token}
    )
    assert tampered.status_code == 409 and "Please choose owner or member." in tampered.text
    removed = client.post(f"/settings/team/{sam.id}/remove", data={"csrf_token": token})
    assert removed.status_code == 303
    assert "sam@example.com is no longer in the team." in client.get("/settings/team").text
    assert roles(db_session, workspace) == {user.email: "owner"}


def test_the_last_owner_stays(db_session):
    user, workspace = make_owner(db_session)
    member, _ = services.add_member(db_session, workspace, "m@example.com", "member")
    second_owner, _ = services.add_member(db_session, workspace, "o@example.com", "owner")
    services.remove_member(db_session, workspace.id, second_owner, user.id)
    with pytest.raises(services.AccountError, match="at least one owner"):
        services.set_member_role(db_session, workspace.id, member, second_owner.id, "member")
    with pytest.raises(services.AccountError, match="at least one owner"):
        services.remove_member(db_session, workspace.id, member, second_owner.id)


def test_a_removed_member_is_shut_out_at_once(app, client, db_session, owner):
    _, workspace = owner
    member, _ = services.add_member(db_session, workspace, "gone@example.com", "member")
    services.set_password(db_session, member, NEW_PASSWORD, NEW_PASSWORD)
    db_session.commit()
    theirs = app.test_client()
    page = theirs.get("/login")
    theirs.post(
        "/login",
        data={
            "email": "gone@example.com",
            "password": NEW_PASSWORD,
            "csrf_token": csrf_token_from(page),
        },
    )
    assert theirs.get("/dashboard").status_code == 200
    token = csrf_token_from(client.get("/settings/team"))
    client.post(f"/settings/team/{member.id}/remove", data={"csrf_token": token})
    assert theirs.get("/dashboard").status_code == 403
    assert theirs.get("/responses").status_code == 403


def test_another_workspaces_people_are_not_found(client, db_session, owner):
    stranger, other = make_owner(db_session, "Elsewhere")
    token = csrf_token_from(client.get("/settings/team"))
    for path, data in (
        (f"/settings/team/{stranger.id}/role", {"role": "member"}),
        (f"/settings/team/{stranger.id}/remove", {}),
        ("/settings/team/999999/remove", {}),
    ):
        assert client.post(path, data={**data, "csrf_token": token}).status_code == 404, path
    db_session.expire_all()
    assert db_session.scalars(
        select(Membership.role).where(Membership.workspace_id == other.id)
    ).all() == ["owner"]
    assert "Elsewhere" not in client.get("/settings/team").text


def test_team_pages_need_a_login_and_a_csrf_token(client, db_session, owner):
    assert client.post("/settings/team", data={"email": "x@example.com"}).status_code == 400
    client.post("/logout", data={"csrf_token": csrf_token_from(client.get("/dashboard"))})
    assert client.get("/settings/team").status_code == 302


def test_an_invitation_is_sent_again_until_the_person_logs_in(app, client, db_session, owner):
    user, _workspace = owner
    first = add(client, "sam@example.com")
    first_link = password_link_in(emails(db_session)[0])
    sam = services.user_by_email(db_session, "sam@example.com")
    page = client.get("/settings/team")
    assert "Send the invitation again" in page.text
    token = csrf_token_from(page)
    again = client.post(f"/settings/team/{sam.id}/invite", data={"csrf_token": token})
    assert again.status_code == 200 and "sam@example.com is in the team." in again.text
    for shown in (first.text, again.text):
        assert "/password/set/" not in shown
    sent = emails(db_session)
    assert [m["to"] for m in sent] == ["sam@example.com"] * 2
    second_link = password_link_in(sent[1])
    # Once one of the links is used, the other stops working too.
    theirs = app.test_client()
    form = theirs.get(second_link)
    theirs.post(
        second_link,
        data={
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
            "csrf_token": csrf_token_from(form),
        },
    )
    assert theirs.get(first_link).status_code == 410
    theirs.post("/logout", data={"csrf_token": csrf_token_from(theirs.get("/dashboard"))})
    page = theirs.get("/login")
    theirs.post(
        "/login",
        data={
            "email": "sam@example.com",
            "password": NEW_PASSWORD,
            "csrf_token": csrf_token_from(page),
        },
    )
    logged_in_before = client.post(f"/settings/team/{sam.id}/invite", data={"csrf_token": token})
    assert logged_in_before.status_code == 303
    assert "has logged in since joining" in client.get("/settings/team").text
    assert len(emails(db_session)) == 2
    assert (
        client.post(
            f"/settings/team/{user.id + 999}/invite", data={"csrf_token": token}
        ).status_code
        == 404
    )


def test_someone_with_a_login_is_only_told_again_and_their_login_before_joining_stays_private(
    client, db_session, owner
):
    pat, _ = make_owner(db_session, "Other Shop", email="pat@example.com")
    pat.last_login_at = NOW
    db_session.commit()
    add(client, "pat@example.com")
    page = client.get("/settings/team")
    assert "not since joining" in page.text and "Send the invitation again" in page.text
    again = client.post(
        f"/settings/team/{pat.id}/invite", data={"csrf_token": csrf_token_from(page)}
    )
    assert again.status_code == 200 and "/password/set/" not in again.text
    sent = emails(db_session)
    assert [m["to"] for m in sent] == ["pat@example.com"] * 2
    assert all("/password/set/" not in m["text"] for m in sent)


def assigned_here_and_elsewhere(db_session, workspace, member):
    """An unhappy answer given to `member` here, and one given to them in another workspace."""
    unhappy = make_response(db_session, workspace, rating=1, comment="Broken.")
    assign_follow_up(db_session, workspace.id, unhappy.id, member.id)
    _, other = make_owner(db_session)
    services.add_member(db_session, other, member.email, "member")
    theirs = make_response(db_session, other, rating=1, comment="Also broken.")
    assign_follow_up(db_session, other.id, theirs.id, member.id)
    db_session.commit()
    return unhappy, theirs


@pytest.mark.parametrize("way", ["removed by an owner", "leaving"])
def test_follow_ups_of_someone_gone_go_back_to_nobody_and_stay_open(client, db_session, auth, way):
    user, workspace = make_owner(db_session, "Acme Plants")
    member, _ = services.add_member(db_session, workspace, "gone@example.com", "member")
    services.set_password(db_session, member, NEW_PASSWORD, NEW_PASSWORD)
    db_session.commit()
    unhappy, theirs = assigned_here_and_elsewhere(db_session, workspace, member)
    if way == "leaving":
        auth.login(member.email, NEW_PASSWORD)
        page, path = "/account", f"/account/workspaces/{workspace.id}/leave"
    else:
        auth.login(user.email, PASSWORD)
        page, path = "/settings/team", f"/settings/team/{member.id}/remove"
    gone = client.post(path, data={"csrf_token": csrf_token_from(client.get(page))})
    assert gone.status_code == 303
    db_session.expire_all()
    assert (unhappy.assignee_id, unhappy.follow_up_state) == (None, "open")
    assert theirs.assignee_id == member.id


def test_someone_in_two_workspaces_switches_between_them(client, db_session, owner):
    user, _ = owner
    _, other = make_owner(db_session, "Bramble Books")
    services.add_member(db_session, other, user.email, "member")
    db_session.commit()
    page = client.get("/dashboard")
    assert "Acme Plants" in page.text.split("</header>")[0]
    assert f'<option value="{other.id}">Bramble Books</option>' in page.text
    token = csrf_token_from(page)
    switched = client.post("/workspace", data={"workspace_id": str(other.id), "csrf_token": token})
    assert switched.status_code == 303
    page = client.get("/settings/team")
    assert "You are working in Bramble Books." in page.text
    assert "Add someone" not in page.text  # a member there, not an owner
    stranger_workspace = make_owner(db_session, "Elsewhere")[1]
    for value in (str(stranger_workspace.id), "abc", ""):
        refused = client.post("/workspace", data={"workspace_id": value, "csrf_token": token})
        assert refused.status_code in (400, 404), value
    assert "Bramble Books" in client.get("/dashboard").text.split("</header>")[0]
    # Taken out of the chosen workspace, they land in the one they still have.
    owner_there = db_session.scalar(
        select(Membership.user_id).where(
            Membership.workspace_id == other.id, Membership.role == "owner"
        )
    )
    services.remove_member(db_session, other.id, db_session.get(type(user), owner_there), user.id)
    db_session.commit()
    page = client.get("/dashboard")
    assert page.status_code == 200 and "Acme Plants" in page.text.split("</header>")[0]
    assert 'id="workspace-switch"' not in page.text


def test_markup_in_an_address_is_shown_as_text(client, db_session, owner):
    added = add(client, "<script>alert(1)</script>@example.com")
    assert added.status_code == 200
    for page in (added.text, client.get("/settings/team").text):
        assert "<script>alert(1)" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;@example.com" in page
