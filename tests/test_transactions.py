"""One transaction per request (`feedback.transactions`), pinned with a real app and database.

The probe routes live on an app of their own, so the route sweeps of
tests/test_access.py (which walk the `app` fixture's url_map) never see them.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Blueprint, Flask, abort, redirect
from sqlalchemy import select
from werkzeug.wrappers import Response

from feedback import access, transactions
from feedback.accounts.models import Workspace
from feedback.accounts.services import create_workspace
from feedback.config import Config, config_for_tests
from feedback.extensions import db
from tests.support.clients import RequestIsolatingClient

probe = Blueprint("transaction_probe", __name__, url_prefix="/probe")


@probe.get("/answer/<name>/<int:status>")
@access.public
def write_then_answer(name: str, status: int) -> Response | tuple[str, int]:
    create_workspace(db.session, name)
    if status == 303:
        return redirect("/", code=303)
    return "", status


@probe.get("/abort/<name>")
@access.public
def write_then_abort(name: str) -> str:
    create_workspace(db.session, name)
    abort(404)


@probe.get("/raise/<name>")
@access.public
def write_then_raise(name: str) -> str:
    create_workspace(db.session, name)
    raise RuntimeError("a bug after the write")


@probe.get("/early/<kept>/<dropped>")
@access.public
def commit_early_then_refuse(kept: str, dropped: str) -> tuple[str, int]:
    create_workspace(db.session, kept)
    transactions.commit_now("the probe's first write outlives the 409")
    create_workspace(db.session, dropped)
    return "", 409


@probe.get("/discard/<dropped>/<kept>")
@access.public
def discard_then_redirect(dropped: str, kept: str) -> Response:
    create_workspace(db.session, dropped)
    transactions.discard_changes()
    create_workspace(db.session, kept)
    return redirect("/", code=303)


@probe.get("/duplicate/<slug>")
@access.public
def write_what_cannot_commit(slug: str) -> str:
    # Not flushed: the unique slug fails only at the end of the request.
    db.session.add(
        Workspace(
            name="Twin",
            slug=slug,
            timezone="UTC",
            sender_name="Twin",
            consent_text="You may quote me.",
            consent_version=1,
        )
    )
    return "stored, says the view"


@pytest.fixture
def probe_app(database_url: str, make_app: Callable[[Config], Flask]) -> Flask:
    app = make_app(config_for_tests(database_url))
    app.register_blueprint(probe)
    app.test_client_class = RequestIsolatingClient
    # Answer a crash with a 500 page, as in production, instead of raising into the test.
    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app


def stored_names(app: Flask) -> set[str]:
    with app.app_context():
        names = set(db.session.scalars(select(Workspace.name)))
        db.session.remove()
        return names


@pytest.mark.parametrize("status", [200, 201, 204, 303])
def test_a_write_answered_with_success_or_a_redirect_is_kept(probe_app: Flask, status: int) -> None:
    response = probe_app.test_client().get(f"/probe/answer/Kept/{status}")
    assert response.status_code == status
    assert stored_names(probe_app) == {"Kept"}


@pytest.mark.parametrize("status", [400, 404, 409, 422, 429])
def test_a_write_answered_with_an_error_status_is_rolled_back(
    probe_app: Flask, status: int
) -> None:
    response = probe_app.test_client().get(f"/probe/answer/Dropped/{status}")
    assert response.status_code == status
    assert stored_names(probe_app) == set()


def test_a_write_before_an_abort_is_rolled_back(probe_app: Flask) -> None:
    assert probe_app.test_client().get("/probe/abort/Dropped").status_code == 404
    assert stored_names(probe_app) == set()


def test_a_write_before_an_exception_is_rolled_back(probe_app: Flask) -> None:
    assert probe_app.test_client().get("/probe/raise/Dropped").status_code == 500
    assert stored_names(probe_app) == set()


def test_a_write_before_an_exception_is_rolled_back_when_exceptions_propagate(
    probe_app: Flask,
) -> None:
    probe_app.config["PROPAGATE_EXCEPTIONS"] = True
    with pytest.raises(RuntimeError):
        probe_app.test_client().get("/probe/raise/Dropped")
    assert stored_names(probe_app) == set()


def test_commit_now_keeps_its_write_despite_the_error_answer(probe_app: Flask) -> None:
    assert probe_app.test_client().get("/probe/early/Kept/Dropped").status_code == 409
    assert stored_names(probe_app) == {"Kept"}


def test_discard_changes_drops_the_writes_before_it_and_only_those(probe_app: Flask) -> None:
    assert probe_app.test_client().get("/probe/discard/Dropped/Kept").status_code == 303
    assert stored_names(probe_app) == {"Kept"}


def test_a_commit_that_fails_answers_500_never_the_views_success(probe_app: Flask) -> None:
    with probe_app.app_context():
        slug = create_workspace(db.session, "Original").slug
        db.session.commit()
        db.session.remove()
    response = probe_app.test_client().get(f"/probe/duplicate/{slug}")
    assert response.status_code == 500
    assert "stored" not in response.text
    assert stored_names(probe_app) == {"Original"}
