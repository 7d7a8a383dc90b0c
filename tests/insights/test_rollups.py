"""The rollup kept live equals one rebuilt from scratch, for any data (hypothesis)."""

from __future__ import annotations

import datetime as dt
import secrets

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from feedback.answers import submit_open_response
from feedback.insights.models import StageDailyStat
from feedback.insights.services import COUNTERS, rebuild_rollups
from feedback.journey.scales import SCALES
from feedback.surveys.services import Answer, find_open_link
from tests.factories import NOW, make_invitation, make_response, make_workspace

TOUCHPOINTS = [
    ("awareness", "ad-click"),
    ("purchase", "checkout"),
    ("purchase", "order-delivered"),
    ("retention", "support-ticket-solved"),
    ("advocacy", "renewal"),
]
COMMENTS = [None, "Lovely plants!", "Awful, broken pot.", "ok", "Slow but fine", "<b>x</b>"]

one_event = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["personal", "open", "sent only"]),
        "where": st.sampled_from(TOUCHPOINTS),
        "rating": st.integers(0, 10),
        "comment": st.sampled_from(COMMENTS),
        "opt_in": st.booleans(),
        # Around midnight in every zone, over a few days.
        "minutes": st.integers(0, 60 * 24 * 4),
    }
)


def rollup_rows(session, workspace_id):
    session.expire_all()
    stmt = select(StageDailyStat).where(StageDailyStat.workspace_id == workspace_id)
    return {
        (r.stage_id, r.touchpoint_id, r.day): tuple(round(getattr(r, c), 9) for c in COUNTERS)
        for r in session.scalars(stmt)
    }


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    events=st.lists(one_event, min_size=1, max_size=25),
    timezone=st.sampled_from(["UTC", "Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata"]),
)
def test_a_rebuild_gives_exactly_what_the_live_updates_gave(db_session, events, timezone):
    workspace = make_workspace(db_session, timezone=timezone)
    for event in events:
        stage, touchpoint = event["where"]
        scale = SCALES["nps" if stage == "advocacy" else "csat"]
        rating = min(max(event["rating"], scale.low), scale.high)
        when = NOW - dt.timedelta(minutes=event["minutes"])
        if event["kind"] == "personal":
            make_response(
                db_session,
                workspace,
                stage=stage,
                touchpoint=touchpoint,
                rating=rating,
                comment=event["comment"],
                opt_in=event["opt_in"],
                now=when,
            )
        elif event["kind"] == "open":
            link = find_open_link(db_session, workspace.slug, stage, touchpoint)
            answer = Answer(rating=rating, comment=event["comment"])
            submit_open_response(db_session, link, answer, secrets.token_hex(16), when)
            db_session.commit()
        else:
            make_invitation(
                db_session, workspace, stage=stage, touchpoint=touchpoint, now=when, throttle=False
            )
    live = rollup_rows(db_session, workspace.id)
    assert sum(row[COUNTERS.index("responses")] for row in live.values()) == sum(
        e["kind"] != "sent only" for e in events
    )
    rebuild_rollups(db_session, workspace.id, workspace.timezone)
    db_session.commit()
    assert rollup_rows(db_session, workspace.id) == live


def test_the_rebuild_command_rebuilds_every_workspace_or_one(runner, db_session):
    first, second = make_workspace(db_session), make_workspace(db_session)
    make_response(db_session, first)
    make_response(db_session, second, comment=None)
    db_session.execute(StageDailyStat.__table__.delete())
    db_session.commit()
    result = runner.invoke(args=["feedback", "rebuild-rollups", "--workspace", first.slug])
    assert result.exit_code == 0, result.output
    assert f"{first.slug}: 1 rollup rows" in result.output
    assert db_session.scalar(select(func.sum(StageDailyStat.responses))) == 1
    result = runner.invoke(args=["feedback", "rebuild-rollups"])
    assert result.exit_code == 0 and second.slug in result.output
    assert db_session.scalar(select(func.sum(StageDailyStat.responses))) == 2
    unknown = runner.invoke(args=["feedback", "rebuild-rollups", "--workspace", "nope"])
    assert unknown.exit_code != 0
