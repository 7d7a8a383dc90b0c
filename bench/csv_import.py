"""Benchmark: a large touchpoint CSV uploaded through the real page under gunicorn.

    .venv/bin/python bench/csv_import.py                  # 55,000 rows, SQLite then PostgreSQL
    .venv/bin/python bench/csv_import.py --rows 20000 --sqlite-only
    .venv/bin/python bench/csv_import.py --timeout 300    # gunicorn's worker timeout (default 30)

For each database (a SQLite file in a temporary directory; a fresh PostgreSQL
database, dropped afterwards, when the server answers) it migrates the schema,
creates an owner, starts `gunicorn --workers 2 wsgi:app` (production settings),
logs in and posts a CSV of `--rows` rows (each its own contact and event_id, so
every row is recorded and queues one email) to `/touchpoints/import`. It prints
how long the upload request took and its status; when the answer is a redirect
to an import job's page, it then reads that page every half second until the
job says it is finished, and prints the total time and the rate. Last, it
counts invitations and outbox messages in the database.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import requests

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from submit import (  # noqa: E402  (needs BENCH_DIR on sys.path)
    DEFAULT_POSTGRES_URL,
    csrf_token_from,
    databases,
    gunicorn,
    postgres_answers,
    tail,
)

PASSWORD = "bench-password-123"
EMAIL = "owner@example.com"
FINISHED_RE = re.compile(r'data-import-state="(finished|failed)"')


def make_csv(rows: int) -> bytes:
    lines = ["email,name,stage,touchpoint,event_id,occurred_at"]
    lines += [
        f"c{n}@example.com,Customer {n},purchase,checkout,order-{n},2026-06-14T10:00:00Z"
        for n in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


def seed(url: str) -> None:
    import logging

    from flask_migrate import upgrade

    from feedback import create_app
    from feedback.accounts.services import create_owner
    from feedback.config import config_for_tests
    from feedback.extensions import db

    app = create_app(config_for_tests(url))
    with app.app_context():
        logging.disable(logging.INFO)
        try:
            upgrade()
        finally:
            logging.disable(logging.NOTSET)
        create_owner(db.session, EMAIL, PASSWORD, "Bench Plants")
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def count_rows(url: str) -> tuple[int, int]:
    import sqlalchemy as sa

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        invitations = conn.scalar(sa.text("SELECT count(*) FROM invitation"))
        emails = conn.scalar(sa.text("SELECT count(*) FROM outbox_message"))
    engine.dispose()
    return int(invitations or 0), int(emails or 0)


def run(url: str, label: str, rows: int, timeout: int, work: Path) -> None:
    seed(url)
    env = {
        "FEEDBACK_ENV": "production",
        "SECRET_KEY": "bench-secret-key-0123456789abcdef",
        "DATABASE_URL": url,
        "FEEDBACK_INSTANCE_PATH": str(work / "instance"),
        "GUNICORN_CMD_ARGS": f"--timeout {timeout}",
    }
    log = work / f"gunicorn-{label.split()[0].lower()}.log"
    data = make_csv(rows)
    with gunicorn("wsgi:app", env, 2, log) as server:
        web = requests.Session()
        page = web.get(server.base_url + "/login", timeout=10)
        web.post(
            server.base_url + "/login",
            data={"email": EMAIL, "password": PASSWORD, "csrf_token": csrf_token_from(page.text)},
            timeout=10,
        )
        page = web.get(server.base_url + "/touchpoints/import", timeout=10)
        started = time.perf_counter()
        answer = web.post(
            server.base_url + "/touchpoints/import",
            data={"csrf_token": csrf_token_from(page.text), "send": "y"},
            files={"csv_file": ("bench.csv", data, "text/csv")},
            allow_redirects=False,
            timeout=timeout + 60,
        )
        upload_s = time.perf_counter() - started
        print(f"{label}: upload of {rows:,} rows answered {answer.status_code} in {upload_s:.1f} s")
        if answer.status_code == 303:
            job_url = server.base_url + answer.headers["Location"]
            while True:
                state = FINISHED_RE.search(web.get(job_url, timeout=30).text)
                if state:
                    break
                if time.perf_counter() - started > 600:
                    print("  the job did not finish in 600 s")
                    break
                time.sleep(0.5)
            total_s = time.perf_counter() - started
            print(
                f"  job {state.group(1) if state else 'unfinished'} after {total_s:.1f} s "
                f"({rows / total_s:,.0f} rows/s)"
            )
        elif answer.status_code >= 500:
            print(tail(log, 5))
    invitations, emails = count_rows(url)
    print(f"  database: {invitations:,} invitations, {emails:,} outbox messages")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=55_000)
    parser.add_argument("--timeout", type=int, default=30, help="gunicorn's worker timeout")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    version = None if args.sqlite_only else postgres_answers(args.postgres_url)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for _, label, url in databases(work, args.postgres_url, version):
            run(url, label, args.rows, args.timeout, work)


if __name__ == "__main__":
    main()
