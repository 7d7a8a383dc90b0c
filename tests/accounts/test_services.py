from __future__ import annotations

import pytest
from sqlalchemy import func, select

from feedback.accounts.models import Membership, Workspace
from feedback.accounts.services import (
    AccountError,
    authenticate,
    create_owner,
    create_workspace,
    slugify,
    workspace_of,
)
from feedback.journey.models import Stage
from tests.factories import PASSWORD


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Acme Plants", "acme-plants"),
        ("  Café Ünïcode & Co. ", "cafe-unicode-co"),
        ("!!!", "workspace"),
        ("Bob's  Bikes", "bob-s-bikes"),
    ],
)
def test_slugs_are_made_from_names(name, slug):
    assert slugify(name) == slug


def test_create_owner_makes_the_workspace_with_its_journey(db_session):
    user, workspace = create_owner(db_session, "Owner@Example.COM ", PASSWORD, "Acme Plants")
    db_session.commit()
    assert user.email == "owner@example.com"
    assert workspace.slug == "acme-plants"
    assert workspace.name in workspace.consent_text
    assert (
        db_session.scalar(select(func.count(Stage.id)).where(Stage.workspace_id == workspace.id))
        == 5
    )
    assert workspace_of(db_session, user) == workspace


def test_create_owner_reuses_an_existing_workspace_and_user(db_session):
    user, workspace = create_owner(db_session, "a@example.com", PASSWORD, "Acme Plants")
    _, same = create_owner(db_session, "b@example.com", PASSWORD, "acme plants")
    again, _ = create_owner(db_session, "A@example.com", PASSWORD + "!", "Acme Plants")
    db_session.commit()
    assert same.id == workspace.id and again.id == user.id
    assert db_session.scalar(select(func.count(Workspace.id))) == 1
    assert db_session.scalar(select(func.count(Membership.id))) == 2
    assert authenticate(db_session, "a@example.com", PASSWORD + "!") is not None


def test_workspaces_with_clashing_names_get_distinct_slugs(db_session):
    first = create_workspace(db_session, "Acme Plants")
    second = create_workspace(db_session, "Acme  Plants!")
    assert (first.slug, second.slug) == ("acme-plants", "acme-plants-2")


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [("not-an-email", PASSWORD, "email"), ("a@example.com", "short", "10 characters")],
)
def test_bad_owner_details_are_refused_with_a_reason(db_session, email, password, message):
    with pytest.raises(AccountError, match=message):
        create_owner(db_session, email, password, "Acme")


def test_authenticate_checks_the_password_and_ignores_email_case(db_session):
    create_owner(db_session, "owner@example.com", PASSWORD, "Acme")
    db_session.commit()
    user = authenticate(db_session, "OWNER@example.com", PASSWORD)
    assert user is not None and user.email == "owner@example.com"
    assert authenticate(db_session, "owner@example.com", "wrong password") is None
    assert authenticate(db_session, "nobody@example.com", PASSWORD) is None


def test_passwords_are_stored_hashed(db_session):
    user, _ = create_owner(db_session, "owner@example.com", PASSWORD, "Acme")
    assert PASSWORD not in user.password_hash
    assert user.password_hash.startswith(("scrypt:", "pbkdf2:"))
