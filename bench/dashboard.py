"""Benchmark: the owner's dashboard and a stage page over HTTP, as responses grow.

Run it with `make bench` (after the other two), or directly:

    .venv/bin/python bench/dashboard.py                    # SQLite, then PostgreSQL
    .venv/bin/python bench/dashboard.py --sqlite-only
    .venv/bin/python bench/dashboard.py --postgres-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/dashboard.py --sizes 10000,100000 --requests 200 --clients 2 \\
        --json bench/results/dashboard.json

It measures the speed targets of issue 5: the dashboard's p50 latency under
100 ms at 1,000,000 responses, and at most 1.5 times its p50 at 10,000 (its
cost flat in the number of responses). For each database (a SQLite file in a
temporary directory; a fresh PostgreSQL database, created on the server given
and dropped afterwards, skipped with a note when the server does not answer) it:

1. builds the schema with the project's migrations and creates the workspace
   "Bench Plants" (default journey) with its owner, in-process;
2. for each of `--sizes` (10,000, 100,000 and 1,000,000 by default), smallest
   first, grows that same workspace to the size with the demo's bulk loader
   (`feedback.demo.fill_workspace`, called in-process: only the difference is
   inserted, spread over the same past year, then the rollups are rebuilt; the
   insert rate and the rollup time are printed), checks that the database
   holds exactly that many responses and that the rollups count them all, and
   on PostgreSQL runs `ANALYZE` (what autovacuum does within a minute of such
   a load; SQLite is left as a service would leave it);
3. starts the real app, `gunicorn --workers 2 wsgi:app` (sync workers, no access
   log, FEEDBACK_ENV=production) on a free port of 127.0.0.1, and logs in as the
   owner once (`GET /login` for the CSRF token, `POST /login`); the clients reuse
   that session cookie, so the login rate limit (10 POSTs a minute) stays out of
   the way;
4. times three pages, each `--requests` GETs (200 by default) shared by
   `--clients` client processes (2 by default: one per sync worker) that start
   together, after `--warmup` untimed GETs (20) of the same page: `/dashboard`
   (the default period, 30 days), `/dashboard?days=90`, and the stage page of
   the weakest stage, `/stages/retention`. A page's clients stop early after
   `--seconds` (20), so a slow page costs a bounded time: the number of GETs
   timed is printed. A page that does not answer 200 to
   a first GET is printed as "not available" (the stage page may not exist yet)
   and is not an error; once it answers, any status other than 200 (a redirect
   to the login page, say) is an error;
5. stops gunicorn before the next size is loaded (the PostgreSQL load locks
   the tables it fills).

Printed per size and page: requests/s, p50/p99 latency and "CPU ms/req", the
CPU time the gunicorn workers spent per timed request (read from /proc), which
depends far less than the latency on whatever else the machine is doing.
Finally, per database: the dashboard's p50 at the largest size against 100 ms,
and p50(largest) / p50(smallest) against 1.5 (PASS or BELOW; the targets are
stated for 1,000,000 and 10,000: with other `--sizes` the verdict is on the
sizes run). Being below a target is reported, not an error; an error (a
request failing, a check after a load) is listed and the run exits non-zero.
The load generator shares the 2 cores with the server. The full run (three
sizes, both databases) takes about 6-8 minutes here, most of it loading the
million responses; `--sizes 10000,100000` about a minute.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

# Only the standard library, requests and submit.py (which imports no more) at
# the top: the client processes are spawned and import this module again. The
# project and SQLAlchemy are imported where they are used.
BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from submit import (  # noqa: E402  (needs BENCH_DIR on sys.path)
    DEFAULT_POSTGRES_URL,
    MAX_ERRORS_KEPT,
    PHASE_TIMEOUT_S,
    PhaseResult,
    Server,
    csrf_token_from,
    databases,
    gunicorn,
    load_average,
    machine_line,
    percentile,
    run_clients,
    start_run,
    tail,
)

APP_SPEC = "wsgi:app"
WORKSPACE = "Bench Plants"
SLUG = "bench-plants"
OWNER_EMAIL = "owner@bench.example"
OWNER_PASSWORD = "bench-owner-password"
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
TARGET_P50_MS = 100.0
TARGET_RATIO = 1.5
TARGET_PAGE = "dashboard 30 days"
# (name, path, a text the page must contain)
PAGES = (
    ("dashboard 30 days", "/dashboard", "Retention"),
    ("dashboard 90 days", "/dashboard?days=90", "Retention"),
    ("stage page", "/stages/retention", "Retention"),
)

# -- load generator (runs in client processes) ----------------------------------------


def client_process(
    base_url: str,
    cookies: dict[str, str],
    path: str,
    marker: str,
    count: int,
    budget: float,
    timeout: float,
    headers: dict[str, str] | None,
    go: Any,
    results: Any,
) -> None:
    """One client: GET `path` `count` times with the owner's session cookie, once `go` is set.

    It stops early once `budget` seconds have gone by (a slow page at a large
    size would otherwise take minutes).

    Puts a dict with start/end (time.monotonic), the client's CPU seconds in
    between, the latency of each request that answered 200 (s), and errors.
    The first answer must also contain `marker`, so that a page that is not
    the one asked for (an error page served 200) does not pass unnoticed.
    """
    try:
        session = requests.Session()
        session.cookies.update(cookies)
        session.headers.update(headers or {})
        url = base_url + path
        errors: list[str] = []
        latencies: list[float] = []
        results.put({"ready": True})
        if not go.wait(timeout=PHASE_TIMEOUT_S):
            raise TimeoutError("never told to start")
        first = True
        start, cpu = time.monotonic(), time.process_time()
        for _ in range(count):
            if time.monotonic() - start > budget:
                break
            t0 = time.perf_counter()
            try:
                response = session.get(url, timeout=timeout, allow_redirects=False)
            except requests.RequestException as error:
                errors.append(f"GET {path}: {error!r}")
                continue
            if response.status_code != 200:
                errors.append(f"GET {path} -> {response.status_code} {response.reason}")
                continue
            latencies.append(time.perf_counter() - t0)
            if first:
                first = False
                if marker not in response.text:
                    errors.append(f"GET {path} -> 200 without {marker!r} in the page")
        end, cpu = time.monotonic(), time.process_time() - cpu
        session.close()
        results.put(
            {"start": start, "end": end, "cpu": cpu, "latencies": latencies, "errors": errors}
        )
    except BaseException as error:  # report it: never leave the parent waiting
        results.put({"fatal": f"client: {error!r}"})
        raise


def run_page(
    name: str,
    server: Server,
    cookies: dict[str, str],
    path: str,
    marker: str,
    count: int,
    budget: float,
    clients: int,
    timeout: float,
    headers: dict[str, str] | None = None,
) -> PhaseResult:
    """`count` GETs of one page shared by `clients` processes started together.

    Fewer when `budget` seconds are up first. `headers` go with every GET (an
    API key, say).
    """
    clients = max(1, min(clients, count))
    shares = [count // clients + (1 if i < count % clients else 0) for i in range(clients)]
    gathered, server_cpu = run_clients(
        client_process,
        [
            (server.base_url, cookies, path, marker, share, budget, timeout, headers)
            for share in shares
        ],
        server,
    )
    starts = [m["start"] for m in gathered]
    ends = [m["end"] for m in gathered]
    latencies = [x for m in gathered for x in m["latencies"]]
    errors = [e for m in gathered for e in m["errors"]]
    done = max(1, len(latencies))
    return PhaseResult(
        name=name,
        requests=len(latencies),
        seconds=(max(ends) - min(starts)) if starts and ends else 0.0,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        errors=len(errors),
        error_samples=errors[:MAX_ERRORS_KEPT],
        server_cpu_ms=server_cpu / done * 1000 if server_cpu is not None else None,
        client_cpu_ms=sum(m["cpu"] for m in gathered) / done * 1000,
        latencies=latencies,
    )


def log_in(base_url: str, timeout: float) -> dict[str, str]:
    """The owner's session cookie, from one GET and one POST of /login."""
    with requests.Session() as session:
        page = session.get(f"{base_url}/login", timeout=timeout)
        token = csrf_token_from(page.text) if page.status_code == 200 else None
        if token is None:
            raise RuntimeError(f"GET /login -> {page.status_code}, no CSRF token")
        answer = session.post(
            f"{base_url}/login",
            data={"email": OWNER_EMAIL, "password": OWNER_PASSWORD, "csrf_token": token},
            timeout=timeout,
            allow_redirects=False,
        )
        if answer.status_code not in (302, 303):
            raise RuntimeError(f"POST /login -> {answer.status_code}: not logged in")
        return session.cookies.get_dict()


# -- the database ------------------------------------------------------------------------


class AppDatabase:
    """The project's app on one database: schema, the bench workspace, loads and checks."""

    def __init__(self, url: str) -> None:
        from feedback import create_app
        from feedback.config import config_for_tests

        self.url = url
        self.app = create_app(config_for_tests(url))

    @contextlib.contextmanager
    def session(self) -> Any:
        from feedback.extensions import db

        with self.app.app_context():
            try:
                yield db.session
            finally:
                db.session.remove()

    def migrate(self) -> None:
        """Schema to head, and the workspace with its owner."""
        from flask_migrate import upgrade

        from feedback.demo import demo_workspace_for_slug

        with self.session() as session:
            logging.disable(logging.INFO)  # Alembic's "Running upgrade" lines
            try:
                upgrade()
            finally:
                logging.disable(logging.NOTSET)
            demo_workspace_for_slug(session, SLUG, OWNER_EMAIL, OWNER_PASSWORD)
            session.commit()

    def grow(self, size: int) -> Fill:
        """Bulk-insert what the workspace lacks of `size` responses; the figures."""
        import sqlalchemy as sa

        from feedback.accounts.services import workspace_by_slug
        from feedback.db import utcnow
        from feedback.demo import fill_workspace, owner_id_of, response_count

        with self.session() as session:
            workspace = workspace_by_slug(session, SLUG)
            assert workspace is not None
            have = response_count(session, workspace.id)
            if have >= size:
                return Fill(size, 0, 0, 0.0, 0.0, 0.0, [])
            t0 = time.perf_counter()
            result = fill_workspace(
                session,
                workspace,
                size - have,
                utcnow(),
                owner_id=owner_id_of(session, workspace),
            )
            session.commit()
            commit_seconds = time.perf_counter() - t0 - result.insert_seconds
            commit_seconds -= result.rollup_seconds
            analyze_seconds = 0.0
            if session.get_bind().dialect.name == "postgresql":
                t0 = time.perf_counter()
                session.execute(sa.text("ANALYZE"))
                session.commit()
                analyze_seconds = time.perf_counter() - t0
            problems = self.check(session, workspace.id, size)
        return Fill(
            size,
            size - have,
            result.total_rows,
            result.insert_seconds,
            result.rollup_seconds,
            commit_seconds + analyze_seconds,
            problems,
        )

    @staticmethod
    def check(session: Any, workspace_id: int, size: int) -> list[str]:
        """What the database holds against what was loaded; the differences, if any."""
        import sqlalchemy as sa

        from feedback.insights.models import StageDailyStat
        from feedback.surveys.models import Response

        problems = []
        responses = session.scalar(
            sa.select(sa.func.count(Response.id)).where(Response.workspace_id == workspace_id)
        )
        rollup = session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(StageDailyStat.responses), 0)).where(
                StageDailyStat.workspace_id == workspace_id
            )
        )
        if responses != size:
            problems.append(f"{responses} responses in the database, expected {size}")
        if rollup != size:
            problems.append(f"the rollups count {rollup} responses, expected {size}")
        return problems

    def dispose(self) -> None:
        from feedback.extensions import db

        with self.app.app_context():
            db.engine.dispose()


@dataclasses.dataclass
class Fill:
    """One load step: `added` responses (`rows` rows in all) brought the workspace to `size`."""

    size: int
    added: int
    rows: int
    insert_seconds: float
    rollup_seconds: float
    other_seconds: float  # the commit, and ANALYZE on PostgreSQL
    problems: list[str]

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.insert_seconds if self.insert_seconds else 0.0


@dataclasses.dataclass
class SizeRun:
    """The pages timed at one size; None for a page that was not available."""

    fill: Fill
    pages: dict[str, PhaseResult | None]
    unavailable: dict[str, str]
    serve_seconds: float

    @property
    def size(self) -> int:
        return self.fill.size


@dataclasses.dataclass
class DatabaseRun:
    database: str
    label: str
    sizes: list[SizeRun]
    errors: list[str]

    def p50(self, page: str, run: SizeRun) -> float | None:
        result = run.pages.get(page)
        return result.p50_ms if result is not None else None

    def ratio(self, page: str) -> float | None:
        """p50 at the largest size / p50 at the smallest."""
        if len(self.sizes) < 2:
            return None
        first, last = self.p50(page, self.sizes[0]), self.p50(page, self.sizes[-1])
        return last / first if first and last is not None else None

    @property
    def error_count(self) -> int:
        pages = [p for s in self.sizes for p in s.pages.values() if p is not None]
        return len(self.errors) + sum(p.errors for p in pages)


def bench_database(
    database: str, label: str, url: str, args: argparse.Namespace, work: Path
) -> DatabaseRun:
    """Grow the workspace through the sizes; serve and time the pages at each."""
    print(f"\n== {label}   (load average {load_average()})", flush=True)
    app = AppDatabase(url)
    app.migrate()
    log = work / f"gunicorn-{database}.log"
    env = {
        "FEEDBACK_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": url,
        "FEEDBACK_INSTANCE_PATH": str(work / "instance"),
    }
    runs: list[SizeRun] = []
    errors: list[str] = []
    for size in args.sizes:
        print(f"   loading up to {size:,} responses ...", flush=True)
        fill = app.grow(size)
        print(
            f"   {size:>9,} responses: +{fill.added:,} ({fill.rows:,} rows) inserted in "
            f"{fill.insert_seconds:.1f} s = {fill.rows_per_second:,.0f} rows/s; rollups rebuilt "
            f"in {fill.rollup_seconds:.1f} s; commit/ANALYZE {fill.other_seconds:.1f} s",
            flush=True,
        )
        errors += [f"{size:,}: {p}" for p in fill.problems]
        t0 = time.monotonic()
        with gunicorn(APP_SPEC, env, args.workers, log) as server:
            cookies = log_in(server.base_url, args.timeout)
            pages: dict[str, PhaseResult | None] = {}
            unavailable: dict[str, str] = {}
            for name, path, marker in PAGES:
                probe = requests.get(
                    server.base_url + path,
                    cookies=cookies,
                    timeout=args.timeout,
                    allow_redirects=False,
                )
                if probe.status_code != 200:
                    pages[name] = None
                    unavailable[name] = f"{probe.status_code} {probe.reason}"
                    print(f"   {name:<18} not available ({unavailable[name]})", flush=True)
                    continue
                page = (name, server, cookies, path, marker)
                if args.warmup:
                    warm = run_page(*page, args.warmup, args.seconds, args.clients, args.timeout)
                    errors += [f"{size:,} {name} warm-up: {e}" for e in warm.error_samples]
                timed = run_page(*page, args.requests, args.seconds, args.clients, args.timeout)
                pages[name] = report(timed)
        runs.append(SizeRun(fill, pages, unavailable, time.monotonic() - t0))
    app.dispose()
    run = DatabaseRun(database, label, runs, errors)
    if run.error_count:
        print(f"   server log ({log}):\n{tail(log)}", flush=True)
    return run


def report(result: PhaseResult) -> PhaseResult:
    """Print one page's figures as soon as they are in."""
    errors = f", {result.errors} ERRORS" if result.errors else ""
    server = f"{result.server_cpu_ms:5.2f}" if result.server_cpu_ms is not None else "  ?"
    print(
        f"   {result.name:<18} {result.requests:>5} in {result.seconds:6.2f} s"
        f" = {result.per_second:7.1f}/s  p50 {result.p50_ms:6.1f} ms"
        f"  p99 {result.p99_ms:6.1f} ms  CPU/req: server {server} ms,"
        f" clients {result.client_cpu_ms:5.2f} ms{errors}",
        flush=True,
    )
    return result


# -- output ------------------------------------------------------------------------------


def verdicts(run: DatabaseRun) -> list[tuple[str, str]]:
    """(figure, verdict) for the two targets, on the dashboard's default period."""
    if not run.sizes:
        return []
    smallest, largest = run.sizes[0], run.sizes[-1]
    p50 = run.p50(TARGET_PAGE, largest)
    lines = []
    if p50 is None:
        lines.append((f"dashboard p50 at {largest.size:,}", "not available"))
    else:
        verdict = "PASS" if p50 < TARGET_P50_MS else "BELOW"
        lines.append(
            (
                f"dashboard p50 at {largest.size:,}: {p50:.1f} ms",
                f"{verdict} (target < {TARGET_P50_MS:.0f} ms at 1,000,000)",
            )
        )
    ratio = run.ratio(TARGET_PAGE)
    if ratio is not None:
        verdict = "PASS" if ratio <= TARGET_RATIO else "BELOW"
        lines.append(
            (
                f"p50 at {largest.size:,} / p50 at {smallest.size:,}: {ratio:.2f}x",
                f"{verdict} (target <= {TARGET_RATIO}x, 1,000,000 against 10,000)",
            )
        )
    return lines


def table(run: DatabaseRun) -> str:
    """The plain-text table for one database."""
    lines = [
        run.label,
        f"  {'responses':>11}  {'page':<19}{'requests/s':>11}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'CPU ms/req':>12}",
    ]
    for size_run in run.sizes:
        label = f"{size_run.size:,}"
        for name, _, _ in PAGES:
            result = size_run.pages.get(name)
            if result is None:
                why = size_run.unavailable.get(name, "not run")
                lines.append(f"  {label:>11}  {name:<19}{'not available (' + why + ')':>41}")
            else:
                cpu = f"{result.server_cpu_ms:.2f}" if result.server_cpu_ms is not None else "?"
                lines.append(
                    f"  {label:>11}  {name:<19}{result.per_second:>11.1f}{result.p50_ms:>9.1f}"
                    f"{result.p99_ms:>9.1f}{cpu:>12}"
                )
            label = ""
    for name, _, _ in PAGES:
        ratio = run.ratio(name)
        if ratio is not None:
            lines.append(
                f"  p50 ratio {run.sizes[-1].size:,} / {run.sizes[0].size:,}, {name}: {ratio:.2f}x"
            )
    lines.append("  loads (grown in place, only the difference inserted):")
    for size_run in run.sizes:
        fill = size_run.fill
        lines.append(
            f"  {fill.size:>11,}  +{fill.added:,} responses, {fill.rows:,} rows in "
            f"{fill.insert_seconds:.1f} s ({fill.rows_per_second:,.0f} rows/s), rollups "
            f"{fill.rollup_seconds:.1f} s, commit/ANALYZE {fill.other_seconds:.1f} s; "
            f"serving and timing {size_run.serve_seconds:.1f} s"
        )
    for figure, verdict in verdicts(run):
        lines.append(f"  {figure:<48}{verdict}")
    return "\n".join(lines)


def as_json(
    runs: list[DatabaseRun], machine: dict[str, Any], args: argparse.Namespace, notes: list[str]
) -> dict[str, Any]:
    def page(result: PhaseResult | None) -> dict[str, Any] | None:
        if result is None:
            return None
        return {
            "requests": result.requests,
            "seconds": result.seconds,
            "per_second": result.per_second,
            "p50_ms": result.p50_ms,
            "p99_ms": result.p99_ms,
            "server_cpu_ms_per_request": result.server_cpu_ms,
            "client_cpu_ms_per_request": result.client_cpu_ms,
            "errors": result.errors,
        }

    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "settings": {
            "sizes": args.sizes,
            "requests_per_page": args.requests,
            "seconds_per_page_at_most": args.seconds,
            "warmup": args.warmup,
            "clients": args.clients,
            "gunicorn_workers": args.workers,
            "timeout_s": args.timeout,
        },
        "targets": {"dashboard_p50_ms_below": TARGET_P50_MS, "p50_ratio_at_most": TARGET_RATIO},
        "databases": {
            run.database: {
                "label": run.label,
                "sizes": {
                    str(s.size): {
                        "load": {
                            "added": s.fill.added,
                            "rows": s.fill.rows,
                            "insert_seconds": s.fill.insert_seconds,
                            "rows_per_second": s.fill.rows_per_second,
                            "rollup_seconds": s.fill.rollup_seconds,
                            "commit_analyze_seconds": s.fill.other_seconds,
                        },
                        "pages": {name: page(s.pages.get(name)) for name, _, _ in PAGES},
                        "unavailable": s.unavailable,
                    }
                    for s in run.sizes
                },
                "p50_ratio": {name: run.ratio(name) for name, _, _ in PAGES},
                "verdicts": [" ".join(v) for v in verdicts(run)],
                "errors": run.errors,
            }
            for run in runs
        },
        "notes": notes,
    }


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from error
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("sizes must be positive")
    return sizes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=list(DEFAULT_SIZES),
        help="responses to grow to, comma-separated (default 10000,100000,1000000)",
    )
    parser.add_argument(
        "--requests", type=int, default=200, help="timed GETs per page and size (default 200)"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=20.0,
        help="stop timing a page after this long even if fewer GETs were made (default 20)",
    )
    parser.add_argument("--clients", type=int, default=2, help="client processes (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument(
        "--warmup", type=int, default=20, help="untimed GETs of each page first (default 20)"
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds allowed for each request"
    )
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help=f"a server where a fresh database may be created (default {DEFAULT_POSTGRES_URL})",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.clients < 1 or args.workers < 1 or args.warmup < 0:
        parser.error("--requests, --clients and --workers must be positive, --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    args = parse_args(argv)
    settings = (
        f"sizes {', '.join(f'{s:,}' for s in args.sizes)}; {args.requests} GETs per page "
        f"({args.warmup} warm-up), {args.clients} clients, gunicorn {args.workers} sync workers"
    )
    notes, postgres_version, machine = start_run(args.sqlite_only, args.postgres_url, settings)
    runs: list[DatabaseRun] = []
    with tempfile.TemporaryDirectory(prefix="feedback-bench-") as tmp:
        work = Path(tmp)
        for key, label, url in databases(work, args.postgres_url, postgres_version):
            runs.append(bench_database(key, label, url, args, work))

    print("\n" + "=" * 78)
    print(f"Dashboard benchmark: {settings}")
    print(machine_line(machine))
    for run in runs:
        print()
        print(table(run))
    print(
        "\nrequests/s: timed GETs that answered 200 / wall time of the phase; p50/p99 per"
        "\nrequest; CPU ms/req: the gunicorn workers' CPU per timed request (from /proc)."
        "\nrows/s: contacts, invitations, responses and testimonial consents inserted by"
        "\nfeedback.demo.fill_workspace, rollups not included."
    )
    for note in notes:
        print(f"NOTE: {note}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(as_json(runs, machine, args, notes), indent=2))
        print(f"Figures written to {args.json}")
    print(f"Run time: {time.monotonic() - started:.0f} s")

    failures = sum(run.error_count for run in runs)
    if failures:
        print(f"\nFAILED: {failures} errors", file=sys.stderr)
        for run in runs:
            for problem in run.errors:
                print(f"  {run.database}: {problem}", file=sys.stderr)
            for size_run in run.sizes:
                for result in size_run.pages.values():
                    for sample in result.error_samples if result else []:
                        print(f"  {run.database} {size_run.size:,}: {sample}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
