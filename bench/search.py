"""Benchmark: the responses list's full-text search on a database that is already filled.

    FEEDBACK_ENV=development DATABASE_URL=sqlite:////tmp/big.sqlite \\
        .venv/bin/flask --app wsgi feedback demo --workspace big --responses 1000000
    FEEDBACK_ENV=development DATABASE_URL=sqlite:////tmp/big.sqlite \\
        .venv/bin/python bench/search.py --requests 40

In one process, through Flask's test client (no HTTP server, so the figures are
the app's and the database's time): logs in as the demo owner once, then for
each search GETs `/responses?q=...` `--requests` times after a few untimed
ones, and prints p50/p95 in milliseconds, with the database's plan of the
page's query (EXPLAIN QUERY PLAN on SQLite, EXPLAIN ANALYZE on PostgreSQL).
Sequential and single-threaded: it measures latency, not throughput.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time

from sqlalchemy import text

from feedback import create_app
from feedback.demo import DEMO_EMAIL, DEMO_PASSWORD
from feedback.extensions import db
from feedback.insights.queries import ResponseFilters, filtered_responses
from feedback.surveys.models import Response

SEARCHES = [
    "late",
    "zzzznotfound",
    "refund",
    '"arrived late"',
    "plant",
    "the",
    "late&stage=retention",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--email", default=DEMO_EMAIL)
    parser.add_argument("--password", default=DEMO_PASSWORD)
    parser.add_argument("--slug", default="big")
    parser.add_argument("--plans", action="store_true", help="Print each search's plan too.")
    parser.add_argument("searches", nargs="*", default=SEARCHES)
    args = parser.parse_args()

    app = create_app()
    client = app.test_client()
    login = client.get("/login")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login.text)
    assert token, "no CSRF token on the login page"
    answer = client.post(
        "/login",
        data={"email": args.email, "password": args.password, "csrf_token": token.group(1)},
    )
    assert answer.status_code == 302, answer.status_code
    with app.app_context():
        workspace_id = db.session.scalar(
            text("SELECT id FROM workspace WHERE slug = :slug"), {"slug": args.slug}
        )
        total = db.session.scalar(
            text("SELECT count(*) FROM response WHERE workspace_id = :w"), {"w": workspace_id}
        )
        dialect = db.engine.dialect.name
    print(f"{dialect}: workspace {args.slug!r}, {total:,} responses")
    print(f"{'search':<28} {'p50 ms':>8} {'p95 ms':>8} {'shown':>6}")
    for search in args.searches:
        url = f"/responses?q={search}"
        for _ in range(args.warmup):
            page = client.get(url)
            assert page.status_code == 200, (url, page.status_code)
        times = []
        for _ in range(args.requests):
            started = time.perf_counter()
            page = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        shown = len(re.findall(r'data-id="\d+"', page.text))
        p95 = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]
        print(f"{search:<28} {statistics.median(times):8.1f} {p95:8.1f} {shown:6d}")
        if args.plans:
            print_plan(app, workspace_id, search.split("&")[0])


def print_plan(app, workspace_id: int, search: str) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        stmt = (
            filtered_responses(workspace_id, ResponseFilters(text=search), "UTC")
            .order_by(Response.submitted_at.desc(), Response.id.desc())
            .limit(25)
        )
        sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
        prefix = "EXPLAIN QUERY PLAN " if db.engine.dialect.name == "sqlite" else "EXPLAIN ANALYZE "
        for row in db.session.connection().exec_driver_sql(prefix + sql):
            print("    ", row[-1])


if __name__ == "__main__":
    main()
