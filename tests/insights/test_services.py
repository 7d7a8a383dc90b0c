from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import select

from feedback.insights.models import StageDailyStat
from feedback.insights.queries import (
    CURSOR_KINDS,
    ResponseFilters,
    filtered_responses,
    responses_page,
    weakest_stage,
)
from feedback.insights.services import (
    COUNTERS,
    journey_summary,
    local_day,
    rebuild_rollups,
)
from feedback.journey.scales import SCALES
from feedback.paging import Cursor, capped_count, decode_cursor
from feedback.surveys.models import Response
from tests.factories import NOW, make_response, make_workspace


def after(cursor):
    return Cursor(decode_cursor(cursor, CURSOR_KINDS))


def before(cursor):
    return Cursor(decode_cursor(cursor, CURSOR_KINDS), backwards=True)


COMMENTS = [
    "Lovely plants and friendly help!",
    "Delivery was slow.",
    "Terrible support, the plant died and nobody answered.",
    "ok",
    None,
    "Great, thanks 😊",
    "Awful packaging, broken pot.",
]


def rollup_rows(session, workspace_id):
    stmt = select(StageDailyStat).where(StageDailyStat.workspace_id == workspace_id)
    return {
        (r.stage_id, r.touchpoint_id, r.day): tuple(round(getattr(r, c), 9) for c in COUNTERS)
        for r in session.scalars(stmt)
    }


def fill_randomly(session, workspace, rng, count=40):
    stages = [
        ("awareness", "ad-click"),
        ("purchase", "checkout"),
        ("purchase", "order-delivered"),
        ("retention", "support-ticket-solved"),
        ("advocacy", "renewal"),
    ]
    for _ in range(count):
        stage, touchpoint = rng.choice(stages)
        scale = SCALES["nps" if stage == "advocacy" else "csat"]
        make_response(
            session,
            workspace,
            stage=stage,
            touchpoint=touchpoint,
            rating=rng.randint(scale.low, scale.high),
            comment=rng.choice(COMMENTS),
            opt_in=rng.random() < 0.2,
            now=NOW - dt.timedelta(hours=rng.randint(0, 24 * 20)),
        )


def test_live_rollup_updates_equal_a_rebuild_from_the_responses(db_session):
    workspace = make_workspace(db_session, timezone="Europe/Berlin")
    fill_randomly(db_session, workspace, random.Random(1))
    live = rollup_rows(db_session, workspace.id)
    rebuild_rollups(db_session, workspace.id, workspace.timezone)
    db_session.commit()
    assert rollup_rows(db_session, workspace.id) == live


def test_journey_summary_matches_a_brute_force_count_of_the_responses(db_session):
    workspace = make_workspace(db_session)
    fill_randomly(db_session, workspace, random.Random(2), count=60)
    first, last = NOW.date() - dt.timedelta(days=9), NOW.date()
    summaries = journey_summary(db_session, workspace.id, first, last)
    assert [s.stage.key for s in summaries] == [
        "awareness",
        "consideration",
        "purchase",
        "retention",
        "advocacy",
    ]
    responses = db_session.scalars(select(Response)).all()
    for summary in summaries:
        mine = [
            r
            for r in responses
            if r.stage_id == summary.stage.id and first <= r.submitted_at.date() <= last
        ]
        scored = [r.sentiment_compound for r in mine if r.sentiment_compound is not None]
        assert summary.responses == len(mine)
        assert summary.scored == len(scored)
        if mine:
            assert abs(summary.average_rating - sum(r.rating for r in mine) / len(mine)) < 1e-9
        else:
            assert summary.average_rating is None
        if scored:
            assert abs(summary.mean_sentiment - sum(scored) / len(scored)) < 1e-9
        for label in ("positive", "neutral", "negative"):
            assert getattr(summary, label) == sum(r.sentiment_label == label for r in mine)
        if summary.stage.scale == "nps" and mine:
            promoters = sum(r.rating >= 9 for r in mine)
            detractors = sum(r.rating <= 6 for r in mine)
            assert abs(summary.nps - 100 * (promoters - detractors) / len(mine)) < 1e-9


def test_an_empty_workspace_has_every_stage_with_no_figures(db_session):
    workspace = make_workspace(db_session)
    summaries = journey_summary(db_session, workspace.id, NOW.date(), NOW.date())
    assert len(summaries) == 5
    assert all(s.responses == 0 and s.average_rating is None for s in summaries)
    assert all(s.mean_sentiment is None and s.share("positive") == 0 for s in summaries)
    assert weakest_stage(summaries) is None


def test_days_are_the_workspaces_not_utc(db_session):
    assert local_day(dt.datetime(2026, 6, 15, 21, 30, tzinfo=dt.UTC), "Europe/Berlin") == dt.date(
        2026, 6, 15
    )
    assert local_day(dt.datetime(2026, 6, 15, 22, 30, tzinfo=dt.UTC), "Europe/Berlin") == dt.date(
        2026, 6, 16
    )
    workspace = make_workspace(db_session, timezone="America/New_York")
    # 23:30 in New York on 14 June is 03:30 UTC on 15 June.
    make_response(db_session, workspace, now=dt.datetime(2026, 6, 15, 3, 30, tzinfo=dt.UTC))
    days = db_session.scalars(select(StageDailyStat.day)).all()
    assert days == [dt.date(2026, 6, 14)]


def test_the_weakest_stage_is_the_one_with_the_lowest_mean_sentiment(db_session):
    workspace = make_workspace(db_session)
    for _ in range(3):
        make_response(db_session, workspace, stage="purchase", comment="Great, lovely, thanks!")
        make_response(
            db_session,
            workspace,
            stage="retention",
            touchpoint="support-ticket-solved",
            rating=1,
            comment="Terrible, rude and useless.",
        )
    summaries = journey_summary(db_session, workspace.id, NOW.date(), NOW.date())
    assert weakest_stage(summaries).stage.key == "retention"


def test_figures_and_lists_never_include_another_workspace(db_session):
    mine = make_workspace(db_session)
    theirs = make_workspace(db_session)
    make_response(db_session, mine, rating=5)
    for _ in range(3):
        make_response(db_session, theirs, rating=1, comment="Awful")
    summary = {s.stage.key: s for s in journey_summary(db_session, mine.id, NOW.date(), NOW.date())}
    assert summary["purchase"].responses == 1
    assert summary["purchase"].average_rating == 5
    page = responses_page(db_session, mine.id)
    assert page.total == 1
    assert [r.workspace_id for r in page.items] == [mine.id]


def test_responses_are_paged_newest_first(db_session):
    workspace = make_workspace(db_session)
    for hours in range(30):
        make_response(
            db_session, workspace, now=NOW - dt.timedelta(hours=hours), comment=f"#{hours}"
        )
    first = responses_page(db_session, workspace.id, per_page=25)
    second = responses_page(db_session, workspace.id, after(first.older), per_page=25)
    assert [r.comment for r in first.items] == [f"#{h}" for h in range(25)]
    assert [r.comment for r in second.items] == [f"#{h}" for h in range(25, 30)]
    assert (first.newer, first.total, second.older, second.total) == (None, 30, None, 30)
    back = responses_page(db_session, workspace.id, before(second.newer), per_page=25)
    assert [r.comment for r in back.items] == [f"#{h}" for h in range(25)]
    assert back.newer is None


def test_responses_with_the_same_time_are_paged_by_id_without_repeats(db_session):
    workspace = make_workspace(db_session)
    made = [make_response(db_session, workspace, now=NOW) for _ in range(7)]
    seen, cursor = [], None
    while True:
        page = responses_page(db_session, workspace.id, cursor, per_page=3)
        seen += [r.id for r in page.items]
        if page.older is None:
            break
        cursor = after(page.older)
    assert seen == sorted((r.id for r in made), reverse=True)


def test_a_newer_page_near_the_start_is_the_full_first_page(db_session):
    workspace = make_workspace(db_session)
    for hours in range(10):
        make_response(db_session, workspace, now=NOW - dt.timedelta(hours=hours))
    first = responses_page(db_session, workspace.id, per_page=4)
    second = responses_page(db_session, workspace.id, after(first.older), per_page=4)
    # New answers arrive: "newer" from the second page still lands on a full first page.
    make_response(db_session, workspace, now=NOW + dt.timedelta(hours=1))
    back = responses_page(db_session, workspace.id, before(second.newer), per_page=4)
    assert len(back.items) == 4 and back.newer is not None
    top = responses_page(db_session, workspace.id, before(back.newer), per_page=4)
    assert top.newer is None and [r.id for r in top.items] == [
        r.id for r in responses_page(db_session, workspace.id, per_page=4).items
    ]


def test_the_total_stops_counting_above_the_cap(db_session):
    workspace = make_workspace(db_session)
    for hours in range(6):
        make_response(db_session, workspace, now=NOW - dt.timedelta(hours=hours))
    stmt = filtered_responses(workspace.id, ResponseFilters(), "UTC").with_only_columns(Response.id)
    scope = (Response.workspace_id, workspace.id)
    assert capped_count(db_session, stmt, scope, cap=4) == 5
    assert capped_count(db_session, stmt, scope, cap=10) == 6
