"""The responses list's filters (combined, across pages) and the CSV exports."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re

import pytest
from sqlalchemy import select

from feedback.db import utcnow
from feedback.insights.exports import csv_safe
from feedback.journey.scales import SCALES
from feedback.testimonials.models import Testimonial
from feedback.testimonials.services import approve
from tests.factories import PASSWORD, make_owner, make_response, make_workspace

COMMENTS = [
    None,
    "Lovely plants, great service!",
    "Awful, broken pot.",
    "Slow delivery but fine",
    "Wonderful 100% happy",
    '=HYPERLINK("http://evil")',
]


@pytest.fixture
def owner(client, db_session, auth):
    user, workspace = make_owner(db_session, "Acme Plants")
    auth.login(user.email, PASSWORD)
    return workspace


def listed_ids(client, query):
    """Every response id the list shows for `query`, following the "Older" links."""
    ids, after = [], None
    while True:
        args = {**query, "after": after} if after else query
        response = client.get("/responses", query_string=args)
        assert response.status_code == 200, response.text
        ids += [int(i) for i in re.findall(r'data-id="(\d+)"', response.text)]
        older = re.search(r'after=([\w-]+)[^"]*" rel="next"', response.text)
        if older is None:
            return ids
        after = older.group(1)


def test_filters_combine_and_keep_working_across_pages(client, db_session, owner):
    rng = random.Random(3)
    now = utcnow()
    made = []
    for _ in range(70):
        stage, touchpoint = rng.choice(
            [("purchase", "checkout"), ("purchase", "order-delivered"), ("advocacy", "renewal")]
        )
        scale = SCALES["nps" if stage == "advocacy" else "csat"]
        made.append(
            make_response(
                db_session,
                owner,
                stage=stage,
                touchpoint=touchpoint,
                rating=rng.randint(scale.low, scale.high),
                comment=rng.choice(COMMENTS),
                opt_in=rng.random() < 0.3,
                now=now - dt.timedelta(days=rng.randint(0, 40)),
            )
        )
    make_response(db_session, make_workspace(db_session), comment="Awful, broken pot.")
    today = now.date()
    queries = [
        ({}, lambda r: True),
        ({"stage": "purchase"}, lambda r: r.stage.key == "purchase"),
        (
            {"stage": "purchase", "label": "negative", "rating_max": "2"},
            lambda r: (
                r.stage.key == "purchase" and r.sentiment_label == "negative" and r.rating <= 2
            ),
        ),
        ({"label": "none", "opted_in": "y"}, lambda r: r.comment is None and r.testimonial_opt_in),
        (
            {"q": "100%", "rating_min": "4"},
            lambda r: r.comment is not None and "100%" in r.comment and r.rating >= 4,
        ),
        (
            {"since": (today - dt.timedelta(days=10)).isoformat(), "q": "BROKEN"},
            lambda r: (
                r.submitted_at.date() >= today - dt.timedelta(days=10)
                and r.comment is not None
                and "broken" in r.comment.lower()
            ),
        ),
    ]
    for query, keep in queries:
        expected = sorted(r.id for r in made if keep(r))
        assert sorted(listed_ids(client, query)) == expected, query


def test_the_mismatch_filter_lists_the_flagged_ones(client, db_session, owner):
    flagged = make_response(db_session, owner, rating=5, comment="Terrible, awful, broken.")
    make_response(db_session, owner, rating=5, comment="Lovely!")
    page = client.get("/responses?mismatch=y")
    assert listed_ids(client, {"mismatch": "y"}) == [flagged.id]
    assert "Rating and comment disagree" in page.text


def test_bad_filters_are_explained_and_the_rest_still_apply(client, db_session, owner):
    make_response(db_session, owner)
    page = client.get("/responses?rating_min=5&rating_max=1&since=soon&stage=nope&q=" + "x" * 101)
    assert page.status_code == 422
    for message in ("below the lower one", "Not a valid date", "Not a valid choice", "100"):
        assert message in page.text
    ancient = client.get("/responses?since=0001-01-01&until=9999-12-31")
    assert ancient.status_code == 422 and "Use a date from 2000 to 2100" in ancient.text
    assert client.get("/export/responses.csv?until=9999-12-31").status_code == 200
    empty = client.get("/responses?label=negative")
    assert "No response matches these filters" in empty.text


def test_the_csv_export_follows_the_filters_and_defuses_formulas(client, db_session, owner):
    make_response(db_session, owner, comment='=HYPERLINK("http://evil","x")', opt_in=True)
    make_response(db_session, owner, comment="+1 great", rating=5)
    make_response(db_session, owner, comment="@mention -ok", rating=4)
    make_response(
        db_session, owner, stage="advocacy", touchpoint="renewal", rating=10, comment=None
    )
    response = client.get("/export/responses.csv?stage=purchase")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="acme-plants-responses.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 3 and {r["stage"] for r in rows} == {"purchase"}
    comments = sorted(r["comment"] for r in rows)
    assert comments == ["'+1 great", '\'=HYPERLINK("http://evil","x")', "'@mention -ok"]
    assert all(r["contact_email"].endswith("@example.com") for r in rows)
    assert float(next(r for r in rows if r["comment"] == "'+1 great")["sentiment_compound"]) > 0
    # Only approved testimonials are exported (see tests/insights/test_testimonial_export.py).
    [testimonial] = db_session.scalars(select(Testimonial)).all()
    approve(db_session, testimonial.workspace_id, testimonial.id, None, utcnow())
    db_session.commit()
    testimonials = client.get("/export/testimonials.csv")
    [quote] = list(csv.DictReader(io.StringIO(testimonials.get_data(as_text=True))))
    assert quote["quote"].startswith("'=HYPERLINK") and quote["status"] == "approved"


def test_exports_never_include_another_workspace_and_need_a_login(client, db_session, owner, auth):
    make_response(db_session, make_workspace(db_session), comment="secret of another shop")
    text = client.get("/export/responses.csv").get_data(as_text=True)
    assert "secret of another shop" not in text and text.startswith("id,submitted_at")
    auth.logout()
    assert client.get("/export/responses.csv").status_code == 302
    assert client.get("/export/testimonials.csv").status_code == 302


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd", "'+cmd"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("fine", "fine"),
        (-0.5, -0.5),
        (None, None),
    ],
)
def test_csv_safe_neutralises_exactly_the_formula_starts(value, safe):
    assert csv_safe(value) == safe
