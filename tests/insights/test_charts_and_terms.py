"""Server-drawn charts, frequent terms, and the rating/comment mismatch rule."""

from __future__ import annotations

import random

from sqlalchemy import select

from feedback.insights import charts
from feedback.insights.services import mismatch_clause
from feedback.insights.terms import count_terms
from feedback.journey.models import Stage
from feedback.journey.scales import SCALES, is_mismatch
from feedback.surveys.models import Response
from tests.factories import make_response, make_workspace


def test_a_line_chart_reads_out_every_value_and_escapes_labels():
    svg = charts.line_chart(
        title="Sentiment <by> week",
        labels=["01 Jun", "08 Jun", "<15 Jun>"],
        series=[charts.Series("Mean", [0.5, None, -0.25])],
        low=-1,
        high=1,
    )
    assert svg.startswith('<svg class="chart"') and 'role="img"' in svg
    assert "Sentiment &lt;by&gt; week" in svg and "<by>" not in svg
    assert "Mean. 01 Jun: 0.50, 08 Jun: no data, &lt;15 Jun&gt;: -0.25." in svg
    # Two separate points, no line drawn across the week without data.
    assert svg.count("<polyline") == 2 and svg.count("<circle") == 2


def test_a_bar_chart_draws_negative_bars_left_of_zero_with_their_values():
    svg = charts.bar_chart(
        title="By touchpoint",
        bars=[("Checkout", 0.4), ("Delivery", -0.6), ("Ads", None)],
        low=-1,
        high=1,
    )
    assert "bar-pos" in svg and "bar-neg" in svg
    assert "+0.40" in svg and "-0.60" in svg and "Ads: no data" in svg


def test_frequent_terms_skip_stop_words_and_count_each_comment_once():
    words, phrases = count_terms(
        [
            "The delivery was slow, slow, slow!",
            "Slow delivery and the plant died.",
            "Plant died after a week. I didn\u2019t expect that.",
        ]
    )
    assert words["slow"] == 2 and words["delivery"] == 2 and words["plant"] == 2
    assert "the" not in words and "was" not in words and "didn't" not in words
    assert phrases["plant died"] == 2 and phrases["slow delivery"] == 1
    assert "delivery slow" not in phrases  # "was" stands between them
    assert "slow plant" not in phrases


def test_mismatch_flags_only_clear_disagreements():
    assert is_mismatch(10, "nps", "negative", -0.6)
    assert is_mismatch(5, "csat", "negative", -0.5)
    assert not is_mismatch(5, "csat", "negative", -0.1)  # only mildly negative
    assert is_mismatch(1, "csat", "positive", 0.8)
    assert not is_mismatch(3, "csat", "negative", -0.9)  # a middling rating can be anything
    assert not is_mismatch(10, "nps", None, None)


def test_the_sql_mismatch_filter_agrees_with_the_rule(db_session):
    workspace = make_workspace(db_session)
    rng = random.Random(5)
    comments = ["Awful, terrible, broken.", "Wonderful, great, lovely!", "ok", None]
    for _ in range(40):
        stage, touchpoint = rng.choice([("purchase", "checkout"), ("advocacy", "renewal")])
        scale = SCALES["nps" if stage == "advocacy" else "csat"]
        make_response(
            db_session,
            workspace,
            stage=stage,
            touchpoint=touchpoint,
            rating=rng.randint(scale.low, scale.high),
            comment=rng.choice(comments),
        )
    rows = db_session.execute(
        select(Response, Stage.scale).join(Stage, Stage.id == Response.stage_id)
    ).all()
    expected = {
        r.id
        for r, scale in rows
        if is_mismatch(r.rating, scale, r.sentiment_label, r.sentiment_compound)
    }
    flagged = set(
        db_session.scalars(
            select(Response.id).join(Stage, Stage.id == Response.stage_id).where(mismatch_clause())
        )
    )
    assert expected and flagged == expected
