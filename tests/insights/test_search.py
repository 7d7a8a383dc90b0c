"""Full-text search (`q=`): word forms, phrases, names, order, other filters, and that
the index follows every change (an erased comment is no longer found)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import re
import uuid

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedback import create_app
from feedback.answers import mark_sent, submit_response
from feedback.config import config_for_tests
from feedback.extensions import db
from feedback.insights import queries
from feedback.insights.queries import ResponseFilters, filtered_responses
from feedback.insights.search import engine_query, search_terms
from feedback.paging import Cursor, decode_cursor
from feedback.surveys.models import Contact, Response
from feedback.surveys.services import (
    Answer,
    apply_sentiment,
    find_link,
    invite,
)
from feedback.testimonials.services import approve
from tests.factories import NOW, PASSWORD, make_owner, make_workspace
from tests.support import ROOT
from tests.support.api import api_client_for
from tests.support.database import POSTGRES_URL

# The revision the search migration builds on (whatever it is after merges).
BEFORE_SEARCH = ScriptDirectory(str(ROOT / "migrations")).get_revision("a3c5e7f9b1d2").down_revision

_emails = itertools.count(1)


@pytest.fixture
def owner(client, db_session, auth):
    user, workspace = make_owner(db_session, "Acme Plants")
    auth.login(user.email, PASSWORD)
    return workspace


def answer(
    session,
    workspace,
    comment,
    *,
    name=None,
    email=None,
    days_ago=0,
    stage="purchase",
    touchpoint="checkout",
    rating=5,
    opt_in=False,
):
    """A customer's answer through the services, as the survey page records it."""
    when = NOW - dt.timedelta(days=days_ago)
    issued = invite(
        session,
        workspace,
        stage_key=stage,
        touchpoint_key=touchpoint,
        email=email or f"customer{next(_emails)}@example.com",
        name=name,
        now=when,
        throttle=False,
    )
    mark_sent(session, workspace, issued.invitation, when)
    response = submit_response(
        session,
        find_link(session, issued.token),
        Answer(rating=rating, comment=comment, testimonial_opt_in=opt_in, display_name=name),
        when,
    )
    session.commit()
    return response


def found(session, workspace, text, **filters):
    """Ids of the workspace's responses the search finds, in the list's order."""
    stmt = filtered_responses(workspace.id, ResponseFilters(text=text, **filters), "UTC")
    return list(
        session.scalars(
            stmt.with_only_columns(Response.id).order_by(
                Response.submitted_at.desc(), Response.id.desc()
            )
        )
    )


def listed(client, **query):
    page = client.get("/responses", query_string=query)
    assert page.status_code == 200, page.text
    return [int(i) for i in re.findall(r'data-id="(\d+)"', page.text)]


# -- reading what was typed --------------------------------------------------------------


def test_a_search_is_read_as_words_and_quoted_phrases_of_letters_and_digits():
    assert search_terms('refund "arrived  late" 100%') == ["refund", "arrived late", "100"]
    assert search_terms('NEAR( "a* -b" AND') == ["NEAR", "a b", "AND"]
    assert search_terms('"unclosed phrase') == ["unclosed phrase"]
    assert search_terms('!!! "" * - "') == []
    assert search_terms("Café über_alles") == ["Café", "über alles"]
    assert engine_query(["refund", "arrived late"]) == '"refund" "arrived late"'


# -- what is found -----------------------------------------------------------------------


def test_words_match_their_forms(db_session, owner):
    refund = answer(db_session, owner, "I asked for a refund and got it.")
    delivery = answer(db_session, owner, "The delivery arrived on Tuesday.")
    assert found(db_session, owner, "refunds") == [refund.id]
    assert found(db_session, owner, "REFUNDED") == [refund.id]
    assert found(db_session, owner, "arriving") == [delivery.id]
    assert found(db_session, owner, "deliveries") == [delivery.id]


def test_every_word_must_match_and_a_quoted_phrase_must_match_as_a_phrase(db_session, owner):
    late = answer(db_session, owner, "The parcel arrived late.", days_ago=1)
    reversed_ = answer(db_session, owner, "Late again, but it arrived.", days_ago=2)
    answer(db_session, owner, "Arrived in perfect shape.", days_ago=3)
    assert found(db_session, owner, "arrived late") == [late.id, reversed_.id]
    assert found(db_session, owner, '"arrived late"') == [late.id]
    assert found(db_session, owner, '"late again" arrived') == [reversed_.id]


def test_the_customers_name_is_searched_as_well_as_the_comment(db_session, owner):
    ann = answer(db_session, owner, "Lovely plants.", name="Ann Bramblewood")
    answer(db_session, owner, "Lovely plants too.", name="Bob Stone")
    answer(db_session, owner, None, name="Cy Bramble")
    assert found(db_session, owner, "bramblewood") == [ann.id]
    assert found(db_session, owner, "ann lovely") == [ann.id]
    assert found(db_session, owner, "stone ann") == []


def test_results_are_newest_first_and_combine_with_the_other_filters(db_session, client, owner):
    old = answer(db_session, owner, "Slow delivery.", days_ago=9, rating=2)
    new = answer(db_session, owner, "Slow delivery again.", days_ago=1, rating=4)
    middle = answer(
        db_session, owner, "Slow delivery, sadly.", days_ago=5, stage="retention",
        touchpoint="support-ticket-solved", rating=2,
    )  # fmt: skip
    answer(db_session, owner, "Quick delivery!", days_ago=0, rating=5)
    assert found(db_session, owner, "slow") == [new.id, middle.id, old.id]
    assert found(db_session, owner, "slow", stage="purchase") == [new.id, old.id]
    assert found(db_session, owner, "slow", rating_max=2) == [middle.id, old.id]
    assert listed(client, q="slow delivery", stage="purchase", rating_max="3") == [old.id]
    assert listed(client, q="slow") == [new.id, middle.id, old.id]


def test_another_workspaces_responses_are_never_found(db_session, client, owner):
    mine = answer(db_session, owner, "Broken pot on arrival.")
    other = make_workspace(db_session)
    answer(db_session, other, "Broken pot on arrival.", name="Broken Potter")
    assert found(db_session, owner, "broken pot") == [mine.id]
    assert listed(client, q="potter") == []
    assert listed(client, q="broken") == [mine.id]


def test_a_search_without_letters_or_digits_matches_nothing(db_session, client, owner):
    answer(db_session, owner, "Great! 10/10 * would buy again.")
    for text in ("!!!", '"', "*", "-", "()", '""'):
        assert found(db_session, owner, text) == []
        assert listed(client, q=text) == []
    assert len(found(db_session, owner, "10")) == 1


def test_operator_words_are_plain_words(db_session, owner):
    near = answer(db_session, owner, "The shop near me and the one in town.")
    answer(db_session, owner, "Nothing to say.")
    assert found(db_session, owner, "NEAR AND") == [near.id]
    assert found(db_session, owner, "near(") == [near.id]
    assert found(db_session, owner, "-near") == [near.id]
    assert found(db_session, owner, "OR nothing") == []


# -- the index follows every change ------------------------------------------------------


def _indexed_words(session):
    """On SQLite, every word the FTS5 index holds for some response; on PostgreSQL the
    words of every stored tsvector. Erased words must not linger in either."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            sa.text(
                "CREATE VIRTUAL TABLE IF NOT EXISTS temp.search_words "
                "USING fts5vocab(main, response_search, 'row')"
            )
        )
        return set(session.scalars(sa.text("SELECT term FROM temp.search_words WHERE doc > 0")))
    return set(
        session.scalars(sa.text("SELECT word FROM ts_stat('SELECT search_vector FROM response')"))
    )


def test_an_erased_comment_is_no_longer_found_nor_kept_in_the_index(db_session, client, owner):
    response = answer(db_session, owner, "My neighbour Zebedee recommended you.", name="Ann")
    assert found(db_session, owner, "zebedee") == [response.id]
    assert "zebede" in _indexed_words(db_session) or "zebedee" in _indexed_words(db_session)
    scale = response.stage.scale
    response.comment = None
    apply_sentiment(response, None, scale)
    db_session.commit()
    assert found(db_session, owner, "zebedee") == []
    assert listed(client, q="zebedee") == []
    assert not {"zebede", "zebedee", "neighbour"} & _indexed_words(db_session)
    assert found(db_session, owner, "ann") == [response.id]


def test_a_deleted_response_leaves_the_index(db_session, owner):
    response = answer(db_session, owner, "Quixotic service.", name="Yolanda")
    db_session.execute(sa.delete(Response).where(Response.id == response.id))
    db_session.commit()
    assert not {"quixot", "quixotic", "yolanda"} & _indexed_words(db_session)


def test_a_changed_comment_is_found_by_its_new_words_only(db_session, client, owner):
    response = answer(db_session, owner, "Terrible packaging.")
    response.comment = "Actually the packaging was fine, the courier dropped it."
    db_session.commit()
    assert found(db_session, owner, "courier") == [response.id]
    assert found(db_session, owner, "terrible") == []
    assert listed(client, q="courier dropped") == [response.id]


def test_a_renamed_customer_is_found_by_the_new_name_only(db_session, owner):
    first = answer(db_session, owner, "Good.", name="Ann Oldname", email="ann@example.com")
    second = answer(
        db_session, owner, "Fine.", name="Ann Oldname", email="ann@example.com", days_ago=1
    )
    contact = db_session.get(Contact, first.contact_id)
    contact.name = "Ann Newname"
    db_session.commit()
    assert found(db_session, owner, "newname") == [first.id, second.id]
    assert found(db_session, owner, "oldname") == []
    # An erased name (the comment stays) is gone from the index as well.
    contact.name = None
    db_session.commit()
    assert found(db_session, owner, "newname") == []
    assert not {"newnam", "newname", "oldnam", "oldname"} & _indexed_words(db_session)
    assert found(db_session, owner, "good") == [first.id]


def test_the_index_holds_rows_written_in_bulk_outside_the_services(db_session, owner):
    # The bulk demo loader and imports write with plain INSERTs: triggers still index them.
    first = answer(db_session, owner, "Template.")
    row = {
        c.name: getattr(first, c.key)
        for c in Response.__table__.columns
        if c.name not in ("id", "invitation_id", "submission_key")
    }
    db_session.execute(
        sa.insert(Response).values(
            **row | {"comment": "Bulk-loaded marmalade.", "submission_key": "bulk-1"}
        )
    )
    db_session.commit()
    assert len(found(db_session, owner, "marmalade")) == 1


# -- odd input is never an error ---------------------------------------------------------


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    text=st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=120)
)
def test_any_search_text_answers_without_an_error(db_session, client, owner, text):
    if not found(db_session, owner, "seed"):
        answer(db_session, owner, 'Seed "quoted" NEAR(a b) * - AND OR café 100%')
    page = client.get("/responses", query_string={"q": text})
    assert page.status_code in (200, 422), page.status_code
    found(db_session, owner, text)


@pytest.mark.parametrize(
    "text",
    ['"', "*", "NEAR(", "-", "AND", "OR", "NOT", "^", "a:b", "comment:x", "{comment}: x",
     "ünïcödé 日本語 🙂", "x" * 1000, '"' * 99, "a" * 100],
)  # fmt: skip
def test_odd_searches_are_answered_never_with_a_server_error(client, owner, text):
    for path in ("/responses", "/export/responses.csv", "/export/testimonials.csv"):
        response = client.get(path, query_string={"q": text})
        assert response.status_code in (200, 422), (path, response.status_code)


def test_a_search_of_diacritics_and_other_scripts_finds_them(db_session, owner):
    response = answer(db_session, owner, "Tolles Café, 日本語 spoken, naïve charm")
    assert found(db_session, owner, "café") == [response.id]
    assert found(db_session, owner, "naïve") == [response.id]


# -- the exports and the API search the same way -----------------------------------------


def test_the_exports_use_the_same_search(db_session, client, owner):
    refund = answer(db_session, owner, "Quick refund, thank you!", opt_in=True, name="Ann")
    answer(db_session, owner, "Lovely plants.", opt_in=True, name="Bob")
    approve(db_session, owner.id, refund.testimonial.id, None, NOW)
    db_session.commit()
    export = client.get("/export/responses.csv", query_string={"q": "refunds"})
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
    assert [int(r["id"]) for r in rows] == [refund.id]
    export = client.get("/export/testimonials.csv", query_string={"q": "refunded"})
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
    assert [int(r["response_id"]) for r in rows] == [refund.id]
    export = client.get("/export/testimonials.csv", query_string={"q": "lovely"})
    assert list(csv.DictReader(io.StringIO(export.get_data(as_text=True)))) == []


def test_the_api_list_uses_the_same_search(db_session, client):
    workspace = make_workspace(db_session)
    api = api_client_for(client, db_session, workspace)
    late = answer(db_session, workspace, "The parcel arrived late.", days_ago=1)
    answer(db_session, workspace, "Late again, but it arrived.", days_ago=2)
    body = api.get("/api/v1/responses", query_string={"q": '"arrived late"'}).get_json()
    assert [item["id"] for item in body["data"]] == [late.id]
    body = api.get("/api/v1/responses", query_string={"q": "arriving"}).get_json()
    assert len(body["data"]) == 2
    assert api.get("/api/v1/responses", query_string={"q": "!!!"}).get_json()["data"] == []
    assert api.get("/api/v1/responses", query_string={"q": "x" * 101}).status_code == 422


def page_through(session, workspace, per_page, **filters):
    """Every page of the responses list from the first, older and back newer: ids and totals."""
    filters = ResponseFilters(**filters)
    pages = [queries.responses_page(session, workspace.id, None, per_page, filters)]
    while pages[-1].older:
        cursor = Cursor(decode_cursor(pages[-1].older, queries.CURSOR_KINDS))
        pages.append(queries.responses_page(session, workspace.id, cursor, per_page, filters))
    back = [pages[-1]]
    while back[-1].newer:
        cursor = Cursor(decode_cursor(back[-1].newer, queries.CURSOR_KINDS), backwards=True)
        back.append(queries.responses_page(session, workspace.id, cursor, per_page, filters))
    ids = [[r.id for r in page.items] for page in pages]
    back_ids = [[r.id for r in page.items] for page in reversed(back)]
    return ids, back_ids, {page.total for page in pages}


@pytest.mark.parametrize("cap", [10_000, 2], ids=["matches-read-at-once", "walked-in-time-order"])
def test_a_search_with_filters_pages_the_same_whichever_way_its_matches_are_read(
    db_session, owner, monkeypatch, cap
):
    # Under the count cap the matches' keys are read at once and paged in
    # memory; over it the list is walked in time order. Both give the same pages.
    monkeypatch.setattr(queries, "COUNT_CAP", cap)
    wanted = [
        answer(db_session, owner, f"Slow delivery number {n}.", days_ago=n, rating=2).id
        for n in range(7)
    ]
    answer(db_session, owner, "Slow delivery but fine.", days_ago=3, rating=5)
    answer(db_session, owner, "Quick delivery.", days_ago=2, rating=1)
    ids, back_ids, totals = page_through(db_session, owner, 3, text="slow", rating_max=2)
    assert ids == [wanted[0:3], wanted[3:6], wanted[6:7]]
    assert back_ids == ids
    assert totals == {7 if cap > 7 else cap + 1}
    alone, _, _ = page_through(db_session, owner, 3, text="slow")
    assert [i for page in alone for i in page] == found(db_session, owner, "slow")


def test_a_search_whose_matches_the_other_filters_all_exclude_lists_nothing(
    db_session, client, owner
):
    for n in range(3):
        answer(db_session, owner, "Refund took weeks.", days_ago=n, stage="purchase")
    answer(db_session, owner, "Lovely first impression.", stage="awareness", touchpoint="ad-click")
    page = queries.responses_page(
        db_session, owner.id, filters=ResponseFilters(text="refund", stage="awareness")
    )
    assert (page.items, page.total, page.older, page.newer) == ([], 0, None, None)
    assert listed(client, q="refund", stage="awareness") == []
    assert len(listed(client, q="refund", stage="purchase")) == 3


def test_the_api_pages_through_a_search_newest_first(db_session, client):
    workspace = make_workspace(db_session)
    api = api_client_for(client, db_session, workspace)
    late = [answer(db_session, workspace, "Late parcel.", days_ago=n).id for n in range(5)]
    answer(db_session, workspace, "On time.", days_ago=1)
    seen, cursor = [], None
    while True:
        query = {"q": "late", "limit": 2} | ({"cursor": cursor} if cursor else {})
        body = api.get("/api/v1/responses", query_string=query).get_json()
        seen += [item["id"] for item in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == late
    only_old = {"q": "late", "stage": "awareness"}
    assert api.get("/api/v1/responses", query_string=only_old).get_json()["data"] == []


def test_the_index_is_built_by_the_migrations_with_a_stemming_tokenizer(db_session):
    name = db_session.get_bind().dialect.name
    if name == "sqlite":
        kind = db_session.scalar(
            sa.text("SELECT sql FROM sqlite_master WHERE name = 'response_search'")
        )
        assert "porter unicode61 remove_diacritics 2" in kind
    else:
        assert db_session.scalar(
            sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_response_search_vector'")
        ).endswith("USING gin (search_vector)")


def _index_pages(session):
    return b"".join(
        block or b"" for block in session.scalars(sa.text("SELECT block FROM response_search_data"))
    )


def test_compacting_the_index_removes_erased_words_from_its_pages(db_session, runner, owner):
    response = answer(db_session, owner, "Call me on Xylophonestreet please.")
    answer(db_session, owner, "Another comment entirely.")
    response.comment = "Erased."
    db_session.commit()
    sqlite = db_session.get_bind().dialect.name == "sqlite"
    if sqlite:
        # Not found any more, yet still written in the index's pages.
        assert found(db_session, owner, "xylophonestreet") == []
        assert b"xylophonestreet" in _index_pages(db_session)
    result = runner.invoke(args=["feedback", "compact-search"])
    assert result.exit_code == 0, result.output
    if not sqlite:
        assert "Nothing to do on PostgreSQL" in result.output
        return
    assert "rewritten" in result.output
    assert b"xylophonestreet" not in _index_pages(db_session)
    assert found(db_session, owner, "erased") == [response.id]
    assert len(found(db_session, owner, "another comment")) == 1


def test_a_customer_deleted_with_their_responses_leaves_no_name_in_the_index(db_session, owner):
    # Whichever a cascade deletes first, contact or response, the index is told the
    # values it holds (a wrong 'delete' would leave the name behind for good).
    kept = answer(db_session, owner, "Still here.", name="Ann Keep")
    gone = answer(db_session, owner, "Please forget me.", name="Quentin Forgetme")
    assert "forgetm" in _indexed_words(db_session)
    invitation_ids = [gone.invitation_id]
    db_session.execute(sa.text("DELETE FROM testimonial WHERE response_id = :id"), {"id": gone.id})
    db_session.execute(sa.delete(Response).where(Response.id == gone.id))
    db_session.execute(
        sa.text("DELETE FROM invitation WHERE id IN :ids").bindparams(
            sa.bindparam("ids", expanding=True)
        ),
        {"ids": invitation_ids},
    )
    db_session.execute(sa.delete(Contact).where(Contact.id == gone.contact_id))
    db_session.commit()
    assert found(db_session, owner, "forgetme") == []
    assert not {"quentin", "forgetm", "forgetme", "forget"} & _indexed_words(db_session)
    assert found(db_session, owner, "keep") == [kept.id]


def test_a_deleted_workspace_leaves_nothing_of_its_customers_in_the_index(db_session, owner):
    other = make_workspace(db_session)
    answer(db_session, other, "Wobbleberry jam.", name="Ulrika Vanishing")
    kept = answer(db_session, owner, "Still here.", name="Ann Keep")
    theirs = {"wobbleberri", "ulrika", "vanish"}
    assert theirs <= _indexed_words(db_session)
    db_session.execute(sa.text("DELETE FROM workspace WHERE id = :id"), {"id": other.id})
    db_session.commit()
    assert not theirs & _indexed_words(db_session)
    assert found(db_session, owner, "keep") == [kept.id]


@pytest.fixture
def scratch_url(tmp_path):
    """An empty database of its own (a file, or a database on the PostgreSQL server)."""
    if not POSTGRES_URL:
        yield f"sqlite:///{tmp_path / 'scratch.sqlite'}"
        return
    name = f"feedback_search_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(
        sa.make_url(POSTGRES_URL).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_the_upgrade_indexes_the_responses_already_there_and_the_downgrade_removes_it(
    scratch_url,
):
    app = create_app(config_for_tests(scratch_url))
    with app.app_context():
        # The demo is written by today's models, so at head; going down to before the
        # search keeps its responses and takes the index away, going up builds it again.
        upgrade()
        result = app.test_cli_runner().invoke(args=["feedback", "demo", "--responses", "30"])
        assert result.exit_code == 0, result.output
        db.session.remove()
        downgrade(revision=BEFORE_SEARCH)
        names = set(sa.inspect(db.engine).get_table_names())
        assert not {n for n in names if n.startswith("response_search")}
        columns = {c["name"] for c in sa.inspect(db.engine).get_columns("response")}
        assert "search_vector" not in columns
        db.session.remove()
        upgrade()
        workspace_id, comment = db.session.execute(
            sa.select(Response.workspace_id, Response.comment)
            .where(Response.comment.is_not(None))
            .order_by(Response.id)
            .limit(1)
        ).one()
        word = max(search_terms(comment)[0].split(), key=len)
        stmt = filtered_responses(workspace_id, ResponseFilters(text=word), "UTC")
        assert db.session.scalars(stmt.with_only_columns(Response.id)).all()
        db.session.remove()
        db.engine.dispose()
