"""Every owner list query reads an index, never the whole table, on the database under test.

Each list is run through its real service (every filter alone, some combined,
every follow-up tab, every testimonial tab, order and tag, the API's lists, a
page after and before a cursor); every SELECT it sends is caught and explained.
SQLite: a `SCAN <table>` without an index fails, and so does sorting the
matches (`USE TEMP B-TREE FOR ORDER BY`) instead of reading them in an
index's order. PostgreSQL: with sequential
scans switched off for the transaction, the planner still picks one only when
no index can serve, so any `Seq Scan on <table>` fails; sorts are switched off
too, so a full `Sort` (not an Incremental Sort of ties) fails as well.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from feedback.api import services as api
from feedback.api.schemas import ResponsesQuery, TestimonialsQuery
from feedback.followups import services as followups
from feedback.insights import queries, search
from feedback.insights.services import Period
from feedback.journey.models import Stage
from feedback.paging import Cursor, decode_cursor
from feedback.testimonials import services as testimonials
from tests.factories import NOW, make_owner, make_response, opted_in

BIG_TABLES = ("response", "testimonial", "testimonial_tag", "invitation", "contact")
SQLITE_SCAN = re.compile(rf"\bSCAN ({'|'.join(BIG_TABLES)})\b(?! USING)")
# Sorting the rows found rather than reading them in an index's order: every
# match is read before the first page comes out.
SQLITE_SORT = re.compile(r"USE TEMP B-TREE FOR (ORDER BY|RIGHT PART OF ORDER BY)")
POSTGRES_SCAN = re.compile(rf"Seq Scan on ({'|'.join(BIG_TABLES)})\b")
# A full sort; an Incremental Sort only orders the rows that tie on the
# index's leading key (e.g. the same submitted_at, by id), a page's worth.
POSTGRES_SORT = re.compile(r"(^|->)\s*Sort\s+\(")


@contextmanager
def caught_selects(session: Session) -> Iterator[list[tuple[str, Any]]]:
    """The SELECTs sent through the session's connection while the block runs."""
    statements: list[tuple[str, Any]] = []
    engine = session.get_bind()

    def catch(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", catch)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", catch)


def full_scans(session: Session, statement: str, parameters: Any) -> list[str]:
    """The plan's lines that read a big table whole."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        lines = [row[-1] for row in rows]
        # A search with few matches is meant to sort them: it looks up at most
        # search.FEW_MATCHES responses by id (see narrow_to_text), a bounded sort.
        sorts_few_matches = f"response {search.NOT_INDEXED}" in statement
        return [
            line
            for line in lines
            if SQLITE_SCAN.search(line) or (SQLITE_SORT.search(line) and not sorts_few_matches)
        ]
    # Off for this transaction only (rolled back after the test): the planner
    # then takes a scan or a full sort only where no index can do the work.
    connection.execute(text("SET LOCAL enable_seqscan = off"))
    connection.execute(text("SET LOCAL enable_sort = off"))
    rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters)
    return [row[0] for row in rows if POSTGRES_SCAN.search(row[0]) or POSTGRES_SORT.search(row[0])]


@pytest.fixture
def filled(db_session: Session) -> tuple[int, int, Stage]:
    """A workspace with answers of every kind, follow-ups, and tagged testimonials."""
    user, workspace = make_owner(db_session)
    for hours, (rating, comment, opt_in) in enumerate(
        [
            (5, "Lovely plants, quick delivery.", True),
            (1, "Late and broken, awful.", False),
            (5, "Terrible, awful, broken.", False),  # a mismatch
            (3, None, False),
            (4, "Fine, thanks.", True),
        ]
        * 3
    ):
        make_response(
            db_session,
            workspace,
            rating=rating,
            comment=comment,
            opt_in=opt_in,
            now=NOW - dt.timedelta(hours=hours),
        )
    for n in range(4):
        quote = opted_in(db_session, workspace, f"Quote {n}, lovely.")
        testimonials.set_tags(db_session, workspace.id, quote.id, ["support"])
        if n % 2:
            testimonials.approve(db_session, workspace.id, quote.id, user.id, NOW)
    db_session.commit()
    stage = db_session.query(Stage).filter_by(workspace_id=workspace.id, key="purchase").one()
    return workspace.id, user.id, stage


RESPONSE_FILTERS = [
    {},
    {"stage": "purchase"},
    {"touchpoint_id": "touchpoint"},
    {"label": "negative"},
    {"label": "none"},
    {"rating_min": 1, "rating_max": 2},
    {"rating_min": 4},
    {"opted_in": True},
    {"mismatch": True},
    {"period": Period(NOW.date() - dt.timedelta(days=7), NOW.date())},
    {"text": "late"},
    {"stage": "purchase", "label": "negative", "rating_max": 2},
    {"label": "positive", "opted_in": True},
    {"mismatch": True, "period": Period(NOW.date() - dt.timedelta(days=7), NOW.date())},
    {"touchpoint_id": "touchpoint", "rating_min": 4, "text": "lovely"},
]


def list_calls(session: Session, workspace_id: int, user_id: int, stage: Stage) -> list[Any]:
    """(name, call) for every list the owner pages and the API serves."""
    touchpoint_id = stage.touchpoints[0].id
    calls: list[tuple[str, Callable[[], Any]]] = []

    def responses(filters: dict[str, Any], cursor: Cursor | None = None) -> Any:
        if filters.get("touchpoint_id") == "touchpoint":
            filters = {**filters, "touchpoint_id": touchpoint_id}
        return queries.responses_page(
            session, workspace_id, cursor, per_page=2, filters=queries.ResponseFilters(**filters)
        )

    for filters in RESPONSE_FILTERS:
        calls.append((f"responses {filters}", lambda f=filters: responses(f)))
    first = responses({})
    values = decode_cursor(first.older, queries.CURSOR_KINDS)
    calls.append(("responses older", lambda: responses({}, Cursor(values))))
    calls.append(("responses newer", lambda: responses({}, Cursor(values, backwards=True))))
    calls.append(
        ("responses label older", lambda: responses({"label": "negative"}, Cursor(values)))
    )

    for show in followups.SHOWS:
        for on_stage in (None, stage):
            calls.append(
                (
                    f"follow-ups {show} {on_stage}",
                    lambda s=show, st=on_stage: followups.follow_ups_page(
                        session, workspace_id, NOW, show=s, stage=st, user_id=user_id, per_page=2
                    ),
                )
            )
        page = followups.follow_ups_page(
            session, workspace_id, NOW, show=show, user_id=user_id, per_page=1
        )
        if page.older:
            kinds = followups.cursor_kinds(show)
            for backwards in (False, True):
                cursor = Cursor(decode_cursor(page.older, kinds), backwards)
                calls.append(
                    (
                        f"follow-ups {show} cursor {backwards}",
                        lambda s=show, c=cursor: followups.follow_ups_page(
                            session, workspace_id, NOW, show=s, user_id=user_id, cursor=c
                        ),
                    )
                )
    calls.append(
        ("follow-up counts", lambda: followups.follow_up_counts(session, workspace_id, NOW))
    )

    for show in testimonials.SHOWS:
        for suggested_first in (False, True):
            for tag in (None, "support"):
                calls.append(
                    (
                        f"testimonials {show} suggested={suggested_first} tag={tag}",
                        lambda s=show, o=suggested_first, t=tag: testimonials.moderation_queue(
                            session, workspace_id, s, suggested_first=o, tag=t, per_page=1
                        ),
                    )
                )
    page = testimonials.moderation_queue(session, workspace_id, "all", per_page=1)
    cursor = Cursor(decode_cursor(page.older, testimonials.cursor_kinds("all", False)))
    calls.append(
        (
            "testimonials all older",
            lambda: testimonials.moderation_queue(session, workspace_id, "all", cursor, per_page=1),
        )
    )

    api_cursor = api.responses_out(session, workspace_id, ResponsesQuery(limit=1))[1]
    for query in (
        ResponsesQuery(limit=2),
        ResponsesQuery(limit=2, cursor=api_cursor),
        ResponsesQuery(limit=2, stage="purchase"),
        ResponsesQuery(limit=2, touchpoint=stage.touchpoints[0].key),
        ResponsesQuery(limit=2, label="negative"),
        ResponsesQuery(limit=2, since=NOW - dt.timedelta(days=1), until=NOW),
    ):
        calls.append(
            (f"api responses {query}", lambda q=query: api.responses_out(session, workspace_id, q))
        )
    for status in (None, "pending", "approved"):
        calls.append(
            (
                f"api testimonials {status}",
                lambda s=status: api.testimonials_out(
                    session,
                    workspace_id,
                    TestimonialsQuery(limit=2, status=s),
                    now=NOW,
                    max_age_days=365,
                ),
            )
        )
    return calls


def test_no_list_query_reads_a_whole_table(db_session, filled):
    workspace_id, user_id, stage = filled
    failures = []
    explained = 0
    for name, call in list_calls(db_session, workspace_id, user_id, stage):
        with caught_selects(db_session) as statements:
            call()
        for statement, parameters in statements:
            if not re.search(rf"\bFROM ({'|'.join(BIG_TABLES)})\b|\bJOIN ", statement):
                continue
            explained += 1
            scans = full_scans(db_session, statement, parameters)
            if scans:
                failures.append(f"{name}: {scans}\n{statement}")
    assert explained > 100
    assert not failures, "\n\n".join(failures)


def test_the_check_catches_a_list_without_its_index(db_session, filled):
    """The test above can fail: without the indexes that serve it, the label filter sorts."""
    workspace_id, _, _ = filled
    db_session.execute(text("DROP INDEX ix_response_workspace_label_submitted"))
    db_session.execute(text("DROP INDEX ix_response_workspace_submitted"))
    db_session.execute(text("DROP INDEX ix_response_workspace_rating_submitted"))
    with caught_selects(db_session) as statements:
        queries.responses_page(
            db_session, workspace_id, filters=queries.ResponseFilters(label="negative")
        )
    scans = [s for statement, p in statements for s in full_scans(db_session, statement, p)]
    assert scans
