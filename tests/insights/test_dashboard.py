"""The journey dashboard and the stage page: figures from the rollup, checked by brute force."""

from __future__ import annotations

import datetime as dt
import random
import re
import secrets

import pytest
from sqlalchemy import select

from feedback.answers import submit_open_response
from feedback.db import utcnow
from feedback.insights import queries, services
from feedback.insights.services import Period, local_day
from feedback.journey.models import Stage, Touchpoint
from feedback.journey.scales import SCALES
from feedback.surveys.models import Invitation, Response
from feedback.surveys.services import Answer, find_open_link
from tests.factories import NOW, PASSWORD, make_invitation, make_owner, make_response

TOUCHPOINTS = [
    ("awareness", "ad-click"),
    ("purchase", "checkout"),
    ("purchase", "order-delivered"),
    ("retention", "support-ticket-solved"),
    ("advocacy", "renewal"),
]
COMMENTS = [None, "Lovely plants!", "Awful, broken pot.", "ok", "Slow delivery, plant died."]


def fill(session, workspace, rng, count=80, end=NOW):
    """Answers, open-link answers and unanswered sent surveys over the 60 days before `end`."""
    for _ in range(count):
        stage, touchpoint = rng.choice(TOUCHPOINTS)
        scale = SCALES["nps" if stage == "advocacy" else "csat"]
        rating = rng.randint(scale.low, scale.high)
        when = end - dt.timedelta(minutes=rng.randint(0, 60 * 24 * 60))
        kind = rng.random()
        if kind < 0.6:
            make_response(
                session,
                workspace,
                stage=stage,
                touchpoint=touchpoint,
                rating=rating,
                comment=rng.choice(COMMENTS),
                now=when,
            )
        elif kind < 0.8:
            link = find_open_link(session, workspace.slug, stage, touchpoint)
            answer = Answer(rating=rating, comment=rng.choice(COMMENTS))
            submit_open_response(session, link, answer, secrets.token_hex(8), when)
            session.commit()
        else:
            make_invitation(
                session, workspace, stage=stage, touchpoint=touchpoint, now=when, throttle=False
            )


def brute_force(session, workspace, stage, period, touchpoint_ids=None):
    """The figures of a stage, counted from the raw rows."""
    zone = workspace.timezone

    def kept(tp_id, moment):
        day = local_day(moment, zone)
        return period.first_day <= day <= period.last_day and (
            touchpoint_ids is None or tp_id in touchpoint_ids
        )

    responses = [
        r
        for r in session.scalars(select(Response).where(Response.stage_id == stage.id))
        if kept(r.touchpoint_id, r.submitted_at)
    ]
    sent = [
        i
        for i in session.scalars(select(Invitation).where(Invitation.stage_id == stage.id))
        if i.sent_at is not None and kept(i.touchpoint_id, i.sent_at)
    ]
    scored = [r.sentiment_compound for r in responses if r.sentiment_compound is not None]
    answered = sum(r.invitation_id is not None for r in responses)
    nps = None
    if stage.scale == "nps" and responses:
        nps = (
            100
            * (sum(r.rating >= 9 for r in responses) - sum(r.rating <= 6 for r in responses))
            / len(responses)
        )
    return {
        "responses": len(responses),
        "answered": answered,
        "invitations_sent": len(sent),
        "average_rating": sum(r.rating for r in responses) / len(responses) if responses else None,
        "mean_sentiment": sum(scored) / len(scored) if scored else None,
        "negative": sum(r.sentiment_label == "negative" for r in responses),
        "nps": nps,
        "response_rate": min(1.0, answered / len(sent)) if sent else None,
    }


def same(a, b):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) < 1e-9


@pytest.mark.parametrize("timezone", ["UTC", "America/Los_Angeles"])
def test_dashboard_figures_and_their_previous_period_match_a_brute_force_count(
    db_session, timezone
):
    _, workspace = make_owner(db_session)
    workspace.timezone = timezone
    db_session.commit()
    fill(db_session, workspace, random.Random(timezone))
    period = Period.ending(local_day(NOW, timezone), 30)
    for touchpoint_ids in (
        None,
        services.touchpoints_matching(db_session, workspace.id, channel="web", touchpoint_id=None),
    ):
        trends = services.journey_trends(db_session, workspace.id, period, touchpoint_ids)
        for trend in trends:
            for summary, span in ((trend.now, period), (trend.before, period.previous())):
                expected = brute_force(db_session, workspace, trend.stage, span, touchpoint_ids)
                for name, value in expected.items():
                    assert same(getattr(summary, name), value), (trend.stage.key, name)
            moved = trend.change("mean_sentiment")
            if trend.now.mean_sentiment is None or trend.before.mean_sentiment is None:
                assert moved is None
            else:
                assert same(moved, trend.now.mean_sentiment - trend.before.mean_sentiment)


def test_the_web_channel_filter_keeps_only_web_touchpoints(db_session):
    _, workspace = make_owner(db_session)
    web = services.touchpoints_matching(db_session, workspace.id, channel="web", touchpoint_id=None)
    channels = {
        t.channel for t in db_session.scalars(select(Touchpoint).where(Touchpoint.id.in_(web)))
    }
    assert web and channels == {"web"}
    assert (
        services.touchpoints_matching(db_session, workspace.id, channel=None, touchpoint_id=None)
        is None
    )


def login(client, auth, db_session, name="Acme Plants"):
    user, workspace = make_owner(db_session, name)
    auth.login(user.email, PASSWORD)
    return workspace


def card(page, stage_name):
    return page.text.split(f">{stage_name}</a></h2>")[1].split("</li>")[0]


def test_the_weakest_stage_is_named_with_its_change_on_the_previous_period(
    client, db_session, auth
):
    workspace = login(client, auth, db_session)
    now = utcnow()
    earlier = now - dt.timedelta(days=35)
    for when, comment in ((earlier, "Fine, thanks."), (now, "Awful support, nobody answered.")):
        for _ in range(3):
            make_response(
                db_session,
                workspace,
                stage="retention",
                touchpoint="support-ticket-solved",
                rating=2,
                comment=comment,
                now=when,
            )
    make_response(db_session, workspace, comment="Lovely plants, great service!", now=now)
    make_response(db_session, workspace, comment="Wonderful, thank you!", now=now)
    make_response(db_session, workspace, comment="Great, quick and friendly.", now=now)
    page = client.get("/dashboard")
    callout = re.search(r'<p class="callout">(.*?)</p>', page.text, re.S).group(1)
    assert "<strong>Retention</strong> is where customers feel worst" in callout
    assert "down" in callout and "on the previous 30 days" in callout
    retention = card(page, "Retention")
    assert "▼</span> down" in retention and "Response rate" in retention


def test_response_rate_counts_personal_links_answered_per_survey_sent(client, db_session, auth):
    workspace = login(client, auth, db_session)
    now = utcnow()
    make_response(db_session, workspace, now=now)  # sent and answered
    for _ in range(3):
        make_invitation(db_session, workspace, now=now, throttle=False)  # sent, not answered
    link = find_open_link(db_session, workspace.slug, "purchase", "checkout")
    submit_open_response(db_session, link, Answer(rating=5), "k1", now)  # anonymous: not counted
    db_session.commit()
    purchase = card(client.get("/dashboard"), "Purchase decision")
    assert "<dt>Response rate</dt><dd>25%</dd>" in purchase
    assert "<dt>Responses</dt><dd>2</dd>" in purchase


def test_custom_periods_and_filters_apply_and_bad_ones_are_explained(client, db_session, auth):
    workspace = login(client, auth, db_session)
    day = local_day(utcnow(), workspace.timezone)
    make_response(db_session, workspace, now=utcnow())
    make_response(db_session, workspace, now=utcnow() - dt.timedelta(days=50))
    custom = client.get(f"/dashboard?from={day - dt.timedelta(days=60)}&to={day}")
    assert "<dt>Responses</dt><dd>2</dd>" in card(custom, "Purchase decision")
    assert "(61 days," in custom.text
    phone = client.get("/dashboard?days=90&channel=phone")
    assert "No responses in this period for this filter" in card(phone, "Purchase decision")
    web = client.get("/dashboard?days=90&channel=web")
    assert "<dt>Responses</dt><dd>2</dd>" in card(web, "Purchase decision")
    for bad in (
        "from=2026-13-01&to=2026-01-01",
        f"from={day}&to={day - dt.timedelta(days=3)}",
        "from=0001-01-01&to=0001-01-02",
    ):
        page = client.get(f"/dashboard?{bad}")
        assert page.status_code == 200 and "could not be used" in page.text
    assert client.get("/dashboard?channel=<script>&touchpoint=abc").status_code == 200


def test_the_stage_page_shows_trend_charts_touchpoints_words_and_latest(client, db_session, auth):
    workspace = login(client, auth, db_session)
    now = utcnow()
    for n in range(3):
        make_response(
            db_session,
            workspace,
            touchpoint="order-delivered",
            rating=1,
            comment=f"Slow delivery, <b>plant</b> died. Awful {n}",
            now=now - dt.timedelta(days=7 * n),
        )
    make_response(db_session, workspace, rating=5, comment="Lovely plants, great service!")
    make_response(
        db_session,
        workspace,
        touchpoint="order-delivered",
        rating=5,
        comment="Terrible, horrible, awful.",
        now=now,
    )
    page = client.get("/stages/purchase")
    assert page.status_code == 200
    svgs = re.findall(r'<svg class="chart".*?</svg>', page.text, re.S)
    assert len(svgs) == 3
    for svg in svgs:
        assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
    assert "Mean sentiment." in svgs[0] and "no data" in svgs[0]
    assert "Order delivered:" in svgs[2]
    table = page.text.split("<h2>By touchpoint</h2>")[1].split("</figure>")[1]
    assert table.index("Order delivered") < table.index("Checkout")  # worst first
    negative = page.text.split('id="terms-negative"')[1].split("</section>")[0]
    assert "slow delivery" in negative and "plant died" in negative
    assert "<b>plant" not in page.text and "&lt;b&gt;plant&lt;/b&gt;" in page.text
    assert "Rating and comment disagree" in page.text


def test_the_stage_page_of_an_unknown_stage_is_404_and_an_empty_one_is_helpful(
    client, db_session, auth
):
    login(client, auth, db_session)
    assert client.get("/stages/nope").status_code == 404
    page = client.get("/stages/awareness")
    assert page.status_code == 200
    assert "No responses for this stage in this period" in page.text
    assert "No negative comments in this period." in page.text


def test_stage_weeks_follow_the_workspaces_calendar(db_session):
    _, workspace = make_owner(db_session)
    workspace.timezone = "Pacific/Auckland"
    db_session.commit()
    # Sunday 23:30 UTC is Monday morning in Auckland: the next local week.
    sunday_night = dt.datetime(2026, 6, 14, 23, 30, tzinfo=dt.UTC)
    make_response(db_session, workspace, rating=4, comment=None, now=sunday_night)
    stage = db_session.scalar(select(Stage).where(Stage.key == "purchase"))
    period = Period.ending(dt.date(2026, 6, 21), 7)
    weeks = queries.stage_weeks(db_session, workspace.id, stage.id, period)
    [week] = [w for w in weeks if w.responses]
    assert week.first_day == dt.date(2026, 6, 15) and week.average_rating == 4.0
    assert len(weeks) == queries.TREND_WEEKS


def test_cards_show_open_and_overdue_follow_ups_linking_to_the_queue(client, db_session, auth):
    workspace = login(client, auth, db_session)
    now = utcnow()
    make_response(db_session, workspace, rating=1, comment="Broken.", now=now)
    make_response(db_session, workspace, rating=1, comment="Late.", now=now - dt.timedelta(days=3))
    purchase = card(client.get("/dashboard"), "Purchase decision")
    assert '<a href="/follow-ups?stage=purchase">2 open follow-ups</a>' in purchase
    assert "1 overdue" in purchase
    assert "follow-up" not in card(client.get("/dashboard"), "Retention")
