from __future__ import annotations

import html
import re

from feedback.db import utcnow
from tests.factories import PASSWORD, make_owner, make_response, make_workspace


def test_the_dashboard_shows_one_card_per_stage_in_journey_order(client, db_session, auth):
    user, workspace = make_owner(db_session, "Acme Plants")
    now = utcnow()
    make_response(db_session, workspace, stage="purchase", rating=4, comment="Lovely!", now=now)
    make_response(
        db_session, workspace, stage="purchase", rating=2, comment="Broken pot, awful.", now=now
    )
    make_response(
        db_session,
        workspace,
        stage="advocacy",
        touchpoint="renewal",
        rating=10,
        comment=None,
        now=now,
    )
    auth.login(user.email, PASSWORD)
    page = client.get("/dashboard")
    assert page.status_code == 200
    headings = re.findall(r'<h2><a href="/stages/[a-z-]+[^"]*">([^<]+)</a></h2>', page.text)
    assert headings == [
        "Awareness",
        "Consideration",
        "Purchase decision",
        "Retention",
        "Loyalty &amp; advocacy",
    ]
    purchase = page.text.split(">Purchase decision</a></h2>")[1].split("</li>")[0]
    assert "<dd>2</dd>" in purchase
    assert "3.0 / 5" in purchase
    assert "50% positive" in purchase and "50% negative" in purchase
    advocacy = page.text.split(">Loyalty &amp; advocacy</a></h2>")[1].split("</li>")[0]
    assert "NPS" in advocacy and "+100" in advocacy
    assert page.text.count("No responses in this period.") == 3


def test_a_new_workspace_gets_a_helpful_empty_dashboard(client, db_session, auth):
    user, _ = make_owner(db_session)
    auth.login(user.email, PASSWORD)
    page = client.get("/dashboard?days=7")
    assert page.status_code == 200
    assert page.text.count("No responses in this period.") == 5
    assert "Surveys sent after touchpoints of this stage will show here." in page.text
    assert client.get("/dashboard?days=banana").status_code == 200


def test_the_responses_list_shows_everything_an_owner_needs_escaped(client, db_session, auth):
    user, workspace = make_owner(db_session)
    make_response(
        db_session,
        workspace,
        rating=4,
        comment='<img src=x onerror="alert(1)"> great',
        opt_in=True,
        now=utcnow(),
    )
    auth.login(user.email, PASSWORD)
    page = client.get("/responses")
    assert page.status_code == 200
    assert "<img src=x" not in page.text
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; great" in page.text
    for text in ("Purchase decision", "Checkout", "4<span", "Opted in", "label-positive"):
        assert text in page.text


def test_the_responses_list_is_paginated(client, db_session, auth):
    user, workspace = make_owner(db_session)
    for n in range(27):
        make_response(db_session, workspace, comment=f"comment number {n}")
    auth.login(user.email, PASSWORD)
    first = client.get("/responses")
    assert first.text.count("<tr data-id=") == 25
    assert "27 responses" in first.text and 'rel="prev"' not in first.text
    older = re.search(r'href="([^"]*after=[^"]*)" rel="next"', first.text).group(1)
    second = client.get(html.unescape(older))
    assert second.text.count("<tr data-id=") == 2 and 'rel="next"' not in second.text
    newer = re.search(r'href="([^"]*before=[^"]*)" rel="prev"', second.text).group(1)
    back = client.get(html.unescape(newer))
    assert re.findall(r"<tr data-id=\"(\d+)", back.text) == re.findall(
        r"<tr data-id=\"(\d+)", first.text
    )
    # An old page number is ignored; a forged or cut cursor shows the first page, with a note.
    assert client.get("/responses?page=x").status_code == 200
    for bad in ("x", "e30", "WzEsMl0", "W251bGwsMV0", "A" * 300):
        broken = client.get(f"/responses?after={bad}")
        assert broken.status_code == 400 and "That page link was not valid" in broken.text
        assert broken.text.count("<tr data-id=") == 25


def test_an_owner_sees_only_their_own_workspace(client, db_session, auth):
    user, _mine = make_owner(db_session, "Mine")
    other = make_workspace(db_session, "Theirs")
    make_response(db_session, other, comment="secret from another workspace", now=utcnow())
    auth.login(user.email, PASSWORD)
    assert "secret from another workspace" not in client.get("/responses").text
    dashboard = client.get("/dashboard")
    assert "Theirs" not in dashboard.text
    assert dashboard.text.count("No responses in this period.") == 5
