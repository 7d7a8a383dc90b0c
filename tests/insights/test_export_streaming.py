"""The CSV exports stream: a header at once, rows a piece at a time from a cursor, uses last."""

from __future__ import annotations

import contextlib
import csv
import io
import runpy
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select, update

from feedback import streaming
from feedback.extensions import db
from feedback.insights import exports
from feedback.testimonials.models import Testimonial, TestimonialUse

OWNER, PASSWORD = "owner@acme.example", "long enough pw"
RESPONSES = 1500


@pytest.fixture
def busy(runner, db_session, auth):
    """A workspace with a year of bulk-loaded answers, every quote approved; logged in."""
    result = runner.invoke(
        args=[
            *("feedback", "demo", "--workspace", "acme-plants"),
            *("--responses", str(RESPONSES), "--owner", OWNER, "--password", PASSWORD),
        ]
    )
    assert result.exit_code == 0, result.output
    db_session.execute(update(Testimonial).values(status="approved"))
    db_session.commit()
    auth.login(OWNER, PASSWORD)
    return db_session.scalar(select(func.count(Testimonial.id)))


@pytest.fixture
def export_selects(app):
    """The SELECTs the exports run: (SQL, parameters, DBAPI cursor, execution options)."""
    seen: list[tuple[str, object, object, dict[str, object]]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "FROM response" in statement:
            seen.append((statement, parameters, cursor, dict(context.execution_options)))

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    yield seen
    sa.event.remove(engine, "before_cursor_execute", record)


@contextlib.contextmanager
def streamed(client, path: str) -> Iterator[Iterator[bytes]]:
    """The body's pieces as the app yields them; the download is closed afterwards."""
    response = client.get(path, buffered=False)
    try:
        assert response.status_code == 200 and response.is_streamed
        yield response.iter_encoded()
    finally:
        response.close()


def lines_of(piece: bytes) -> int:
    return piece.count(b"\n")


@pytest.mark.parametrize("path", ["/export/responses.csv", "/export/testimonials.csv"])
def test_an_export_sends_its_header_before_any_row_then_rows_a_piece_at_a_time(client, busy, path):
    with streamed(client, path) as pieces:
        header = next(pieces)
        assert header.startswith(b"id,") and lines_of(header) == 1
        second = next(pieces)
        assert 0 < lines_of(second) <= exports.ROWS_PER_PIECE
        rest = b"".join(pieces)
    rows = list(csv.reader(io.StringIO((header + second + rest).decode())))
    expected = RESPONSES if "responses" in path else busy
    assert len(rows) == 1 + expected


@pytest.mark.parametrize("path", ["/export/responses.csv", "/export/testimonials.csv"])
def test_an_export_reads_its_rows_through_a_streaming_cursor(
    client, busy, export_selects, monkeypatch, path
):
    monkeypatch.setattr(exports, "CHUNK", 50)
    body = client.get(path).get_data()
    assert lines_of(body) > 50  # more rows than one fetch
    [(_sql, _params, cursor, options)] = export_selects
    assert options["yield_per"] == 50 and options["stream_results"]
    if db.engine.dialect.name == "postgresql":
        # A named cursor: PostgreSQL keeps the rows, the app fetches CHUNK at a time.
        assert type(cursor).__name__ == "ServerCursor"


def test_the_testimonial_export_walks_indexes_and_sorts_nothing(client, busy, export_selects):
    client.get("/export/testimonials.csv").get_data()
    [(sql, params, _cursor, _options)] = export_selects
    with db.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        cursor = raw.cursor()
        if db.engine.dialect.name == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            plan = "\n".join(str(row[-1]) for row in cursor.fetchall())
            assert "TEMP B-TREE" not in plan, plan
            assert "ix_testimonial_workspace_consented" in plan, plan
            assert "ix_testimonial_tag_workspace_testimonial" in plan, plan
        else:
            # With scans and sorts priced out, a plan that still sorts has no index to walk.
            cursor.execute("SET enable_seqscan = off")
            cursor.execute("SET enable_sort = off")
            cursor.execute("EXPLAIN " + sql, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            cursor.execute("RESET ALL")
            assert "Sort" not in plan, plan
            assert "ix_testimonial_workspace_consented" in plan, plan
        raw.rollback()


def test_uses_are_recorded_once_the_last_line_is_out_and_not_when_broken_off(
    client, db_session, busy
):
    def uses() -> int:
        db_session.rollback()
        return db_session.scalar(select(func.count(TestimonialUse.id)))

    with streamed(client, "/export/testimonials.csv") as pieces:
        next(pieces), next(pieces)
        assert uses() == 0
    # The download was broken off midway.
    assert uses() == 0

    whole = client.get("/export/testimonials.csv")
    assert lines_of(whole.get_data()) == 1 + busy
    assert uses() == busy


def test_a_long_download_tells_the_gunicorn_master_the_worker_is_alive(client, busy):
    notes: list[None] = []
    streaming.keep_worker_alive(lambda: notes.append(None))
    try:
        with streamed(client, "/export/responses.csv") as pieces:
            next(pieces)
            assert len(notes) == 1  # as the first piece goes out
            b"".join(pieces)
    finally:
        streaming.keep_worker_alive(None)
    assert len(notes) >= 1


def test_alive_while_notifies_at_most_every_interval():
    notes: list[None] = []
    streaming.keep_worker_alive(lambda: notes.append(None))
    try:
        assert list(streaming.alive_while(range(5), every=3600)) == [0, 1, 2, 3, 4]
        assert len(notes) == 1
        assert list(streaming.alive_while(range(3), every=0)) == [0, 1, 2]
        assert len(notes) == 4
    finally:
        streaming.keep_worker_alive(None)
    assert list(streaming.alive_while(range(2))) == [0, 1]
    assert len(notes) == 4


def test_gunicorn_conf_hands_each_worker_notify_to_the_streaming_module():
    settings = runpy.run_path(str(Path(__file__).parents[2] / "gunicorn.conf.py"))

    class Worker:
        def notify(self) -> None:
            pass

    worker = Worker()
    try:
        settings["post_worker_init"](worker)
        assert streaming._notify == worker.notify
    finally:
        streaming.keep_worker_alive(None)
