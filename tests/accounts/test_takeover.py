"""No owner gains control of an account that belongs to someone else (issue 13, item 1).

The walk a hostile owner took: add another workspace's never-logged-in owner to their
own team, send the invitation again, read the password link off the page, set the
password, log in as that person, switch to their workspace and read its data.
"""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from feedback.accounts import services
from feedback.accounts.models import Membership, User
from feedback.db import utcnow
from feedback.delivery.models import OutboxMessage
from feedback.extensions import db
from tests.factories import PASSWORD, make_owner, make_response
from tests.pages import csrf_token_from

SECRET_COMMENT = "A private complaint about the damp basement"
ATTACKER_PASSWORD = "i own this account now"
PASSWORD_LINK = re.compile(r"/password/set/[A-Za-z0-9._\-]+")


def emails_to(db_session: Session, address: str) -> list[dict]:
    db_session.expire_all()
    return [
        m.payload
        for m in db_session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        if m.payload["to"] == address
    ]


def post(client: FlaskClient, path: str, page_path: str, **data: str):
    token = csrf_token_from(client.get(page_path))
    return client.post(path, data={**data, "csrf_token": token})


def take_over_with(app: Flask, link: str, email: str, response_id: int) -> list[str]:
    """What the attacker reads of the victim's workspace through a leaked password link."""
    attacker = app.test_client()
    form = attacker.get(link)
    if form.status_code != 200:
        return []
    attacker.post(
        link,
        data={
            "password": ATTACKER_PASSWORD,
            "confirm": ATTACKER_PASSWORD,
            "csrf_token": csrf_token_from(form),
        },
    )
    page = attacker.get("/dashboard")
    if page.status_code != 200:
        return []
    seen = [attacker.get(f"/responses/{response_id}").text]
    for option in re.findall(r'<option value="(\d+)"', page.text):
        attacker.post(
            "/workspace", data={"workspace_id": option, "csrf_token": csrf_token_from(page)}
        )
        seen.append(attacker.get(f"/responses/{response_id}").text)
    return seen


@pytest.fixture
def victim(db_session) -> tuple[User, int]:
    """An owner of Bramble Books made by `create-owner`, who has never logged in."""
    user, workspace = make_owner(db_session, "Bramble Books", email="bea@bramble.example")
    response = make_response(db_session, workspace, rating=1, comment=SECRET_COMMENT)
    return user, response.id


def test_another_workspaces_owner_cannot_be_taken_over_through_the_team_page(
    app, client, db_session, auth, victim
):
    bea, secret_response_id = victim
    attacker, _ = make_owner(db_session, "Acme Plants", email="mallory@acme.example")
    auth.login(attacker.email, PASSWORD)

    added = post(client, "/settings/team", "/settings/team", email=bea.email, role="member")
    assert added.status_code == 200
    again = post(client, f"/settings/team/{bea.id}/invite", "/settings/team")
    assert again.status_code in (200, 303)
    shown = added.text + again.text + client.get("/settings/team").text

    leaked = PASSWORD_LINK.findall(shown)
    read = [
        page for link in leaked for page in take_over_with(app, link, bea.email, secret_response_id)
    ]
    assert not any(SECRET_COMMENT in page for page in read), "the attacker read Bramble's data"
    assert leaked == [], "a password link was shown to someone other than its account"

    # The fresh link went to Bea's own mailbox, and only there.
    to_bea = emails_to(db_session, bea.email)
    assert [PASSWORD_LINK.search(m["text"]) is not None for m in to_bea] == [False, True]
    assert "added you to Acme Plants" in to_bea[0]["text"]
    assert all(m["to"] == bea.email for m in to_bea)
    # Bea's password is still hers.
    db_session.expire_all()
    assert services.authenticate(db_session, bea.email, PASSWORD) is not None


def test_removing_and_adding_again_grants_nothing_either(app, client, db_session, auth, victim):
    bea, _ = victim
    attacker, workspace = make_owner(db_session, "Acme Plants", email="mallory@acme.example")
    auth.login(attacker.email, PASSWORD)
    shown = ""
    for _ in range(2):
        shown += post(client, "/settings/team", "/settings/team", email=bea.email).text
        shown += post(client, f"/settings/team/{bea.id}/invite", "/settings/team").text
        shown += post(client, f"/settings/team/{bea.id}/role", "/settings/team", role="owner").text
        shown += post(client, f"/settings/team/{bea.id}/remove", "/settings/team").text
    assert PASSWORD_LINK.findall(shown) == []
    db_session.expire_all()
    assert (
        db_session.scalar(select(User.password_hash).where(User.id == bea.id)) == bea.password_hash
    )
    assert services.role_in(db_session, workspace.id, bea.id) is None


def test_someone_added_to_a_team_leaves_it_from_their_account_page(app, db_session, auth, client):
    mallory, acme = make_owner(db_session, "Acme Plants", email="mallory@acme.example")
    bea, bramble = make_owner(db_session, "Bramble Books", email="bea@bramble.example")
    services.add_member(db_session, acme, bea.email, "owner")
    db_session.commit()
    auth.login(bea.email, PASSWORD)
    page = client.get("/account")
    assert page.status_code == 200
    assert "Acme Plants" in page.text and "Bramble Books" in page.text
    left = client.post(
        f"/account/workspaces/{acme.id}/leave", data={"csrf_token": csrf_token_from(page)}
    )
    assert left.status_code == 303
    assert "You have left Acme Plants." in client.get(left.headers["Location"]).text
    db_session.expire_all()
    assert services.role_in(db_session, acme.id, bea.id) is None
    assert services.role_in(db_session, acme.id, mallory.id) == "owner"
    # The only owner of a workspace stays.
    refused = client.post(
        f"/account/workspaces/{bramble.id}/leave", data={"csrf_token": csrf_token_from(page)}
    )
    assert refused.status_code == 409 and "ask another owner to remove you" in refused.text
    assert services.role_in(db_session, bramble.id, bea.id) == "owner"
    # A workspace one is not in is not found; its members stay.
    not_mine = client.post(
        f"/account/workspaces/{acme.id}/leave", data={"csrf_token": csrf_token_from(page)}
    )
    assert not_mine.status_code == 404
    assert db_session.scalars(
        select(Membership.user_id).where(Membership.workspace_id == acme.id)
    ).all() == [mallory.id]


def test_an_owner_cannot_make_someone_the_only_owner_by_adding_them_and_leaving(db_session):
    mallory, acme = make_owner(db_session, "Acme Plants", email="mallory@acme.example")
    bea, _ = make_owner(db_session, "Bramble Books", email="bea@bramble.example")
    services.add_member(db_session, acme, bea.email, "owner")
    with pytest.raises(services.AccountError, match="ask another owner to remove you"):
        services.leave_workspace(db_session, acme.id, mallory)
    # Bea, added later, may go; and may take over only by her own doing.
    assert [p.can_leave for p in services.places_of(db_session, bea)] == [False, True]
    assert [p.can_leave for p in services.places_of(db_session, mallory)] == [False]
    services.remove_member(db_session, acme.id, bea, mallory.id)
    assert services.role_in(db_session, acme.id, bea.id) == "owner"


def test_leaving_ones_last_workspace_logs_one_out(db_session, auth, client):
    _, acme = make_owner(db_session, "Acme Plants")
    sam, _ = services.add_member(db_session, acme, "sam@example.com", "member")
    services.set_password(db_session, sam, ATTACKER_PASSWORD, ATTACKER_PASSWORD)
    db_session.commit()
    page = client.get("/login")
    client.post(
        "/login",
        data={
            "email": "sam@example.com",
            "password": ATTACKER_PASSWORD,
            "csrf_token": csrf_token_from(page),
        },
    )
    page = client.get("/account")
    left = client.post(
        f"/account/workspaces/{acme.id}/leave", data={"csrf_token": csrf_token_from(page)}
    )
    assert left.status_code == 303 and left.headers["Location"] == "/login"
    assert "your last workspace, and are logged out" in client.get("/login").text
    assert client.get("/account").status_code == 302
    db_session.expire_all()
    assert services.sessions_of(db_session, sam, utcnow()) == []


def test_leaving_and_removing_at_once_leave_one_owner(app, db_session):
    """The second change waits for the first, then sees it and is refused."""
    first, acme = make_owner(db_session, "Acme Plants")
    second, _ = services.add_member(db_session, acme, "partner@example.com", "owner")
    db_session.commit()
    engine = db.engine
    with Session(engine) as one, Session(engine) as two:
        # The partner leaves in one tab (not committed yet) and removes the first owner
        # in another.
        services.leave_workspace(one, acme.id, one.get(User, second.id))
        with ThreadPoolExecutor(1) as pool:

            def remove_too() -> str:
                with app.app_context():
                    try:
                        services.remove_member(two, acme.id, two.get(User, second.id), first.id)
                    except services.AccountError as refused:
                        two.rollback()
                        return str(refused)
                    two.commit()
                    return "removed"

            waiting = pool.submit(remove_too)
            time.sleep(0.5)
            assert not waiting.done(), waiting.exception()  # held until the first is decided
            one.commit()
            assert "at least one owner" in waiting.result(timeout=30)
    db_session.expire_all()
    assert services.role_in(db_session, acme.id, first.id) == "owner"
