"""Submits racing each other through the real app and the real database."""

from __future__ import annotations

import threading

from flask.testing import FlaskClient
from sqlalchemy import func, select

from feedback.db import utcnow
from feedback.insights.models import StageDailyStat
from feedback.surveys.models import Invitation, Response
from tests.factories import make_invitation, make_workspace
from tests.pages import csrf_token_from


def race(requests):
    """Run (token, data) POSTs in threads released at the same moment; return statuses."""
    barrier = threading.Barrier(len(requests))
    statuses: list[int] = [0] * len(requests)
    errors: list[BaseException] = []

    def submit(index: int, client: FlaskClient, token: str, data: dict[str, str]) -> None:
        try:
            barrier.wait(timeout=10)
            statuses[index] = client.post(f"/s/{token}", data=data).status_code
        except BaseException as error:  # surfaced in the main thread
            errors.append(error)

    threads = [
        threading.Thread(target=submit, args=(index, *request))
        for index, request in enumerate(requests)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return statuses


def opened_form(app, token):
    client = app.test_client()
    page = client.get(f"/s/{token}")
    assert page.status_code == 200
    return client, csrf_token_from(page)


def test_two_submits_of_one_link_at_the_same_moment_leave_exactly_one_response(app, db_session):
    workspace = make_workspace(db_session)
    for round_ in range(5):
        link = make_invitation(db_session, workspace, now=utcnow())
        requests = []
        for rating in ("5", "1"):
            client, csrf = opened_form(app, link.token)
            requests.append(
                (
                    client,
                    link.token,
                    {"csrf_token": csrf, "rating": rating, "comment": f"Round {round_}"},
                )
            )
        statuses = race(requests)
        assert sorted(statuses) == [303, 409], statuses
        db_session.expire_all()
        count = db_session.scalar(
            select(func.count(Response.id)).where(Response.invitation_id == link.invitation.id)
        )
        assert count == 1
        assert db_session.get(Invitation, link.invitation.id).status == "answered"
    total = db_session.scalar(select(func.sum(StageDailyStat.responses)))
    assert total == 5


def test_concurrent_answers_to_different_links_all_count_in_the_rollup(app, db_session):
    workspace = make_workspace(db_session)
    requests = []
    for n in range(8):
        link = make_invitation(db_session, workspace, now=utcnow())
        client, csrf = opened_form(app, link.token)
        requests.append(
            (client, link.token, {"csrf_token": csrf, "rating": str(1 + n % 5), "comment": "ok"})
        )
    assert race(requests) == [303] * 8
    db_session.expire_all()
    assert db_session.scalar(select(func.count(Response.id))) == 8
    responses, rating_sum = db_session.execute(
        select(func.sum(StageDailyStat.responses), func.sum(StageDailyStat.rating_sum))
    ).one()
    assert (responses, rating_sum) == (8, sum(1 + n % 5 for n in range(8)))
