"""Benchmark: customers answering surveys over HTTP, against gunicorn.

Run it with `make bench`, or directly:

    .venv/bin/python bench/submit.py                      # SQLite, then PostgreSQL
    .venv/bin/python bench/submit.py --sqlite-only
    .venv/bin/python bench/submit.py --postgres-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/submit.py --answers 200 --rounds 3 --json bench/results/run.json

For each database (a SQLite file in a temporary directory; a fresh PostgreSQL
database, created on the server given and dropped afterwards, skipped with a
note when the server does not answer) it:

1. builds the schema with the project's migrations, creates a workspace and
   personal invitations (stage `purchase`, touchpoint `checkout`, CSAT 1-5)
   through the services, keeping the raw tokens in memory: enough for the
   warm-up, every round and the full flow, since an invitation answers once;
2. starts, side by side on three free ports of 127.0.0.1 and with the same
   gunicorn settings (`--workers 2`, sync workers, no access log), the real app,
   `wsgi:app` (FEEDBACK_ENV=production), and the two floors of
   `bench/bare_app.py` (each its own app and server), on the same kind of
   database; warms all three up (untimed);
3. runs `--rounds` rounds (5 by default); each round times three phases of
   `--answers` requests each, back to back:
   - *bare insert*, the floor: form-encoded POSTs of a similar size to a bare
     Flask endpoint that inserts one row and answers 303;
   - *submit only*: every client opens its survey forms first (GET, untimed),
     then the POSTs of the answers are timed;
   - *form floor*: the same, against a tiny Flask-WTF form, the second floor
     (CSRFProtect, a session cookie, a validated FlaskForm, one row
     inserted into its own table, 303): the work any CSRF-protected form POST
     with a session has to do;
   even rounds run them in that order, odd rounds in the reverse order, so
   none of them always goes first;
4. *full flow*, once after the rounds, for information: each answer is a fresh
   session that opens the form (GET, parses the CSRF token) and posts it; the
   pair is timed.

The machine is shared and its speed drifts: a ratio of two phases timed minutes
apart moves with it. So every ratio is taken within a round (A/B pairing), as
submit/floor, form floor/floor and submit/form floor, and the figure quoted is
the median of the rounds' ratios, with their range. The summary gives per phase
the median over the rounds of requests/s and CPU ms/op, and the p50/p99 of all
the rounds' latencies together.

Client processes (`--clients`, 8 by default) share the requests of a phase and
start together; the servers' workers serve one request at a time each. Each
phase has a fixed number of requests (`--answers` per phase and per round, 500
by default: a phase then takes about 0.5-3 s here, and the whole run on both
databases about 2-2.5 minutes). Every request has a timeout; any status other than
the expected one (200 for a form, 303 for a submit) is an error: errors are
listed and the run exits non-zero. After the phases the row counts in the
databases are checked against what was sent (the app's responses, answered
invitations, roll-ups and testimonials; the floors' two tables).

Printed per phase: requests/s, p50/p99 latency, and "CPU ms/op", the CPU time
the gunicorn workers spent per timed request (read from /proc), which depends
far less than requests/s on whatever else the machine is doing.

The target: the median over the rounds of submit-only POSTs/s over the form
floor's POSTs/s (a protected form POST: CSRF, a session, one insert), at least
50%, with the same gunicorn settings and client count; a regression guard, not
a goal to tune for. The ratios to the bare floor are information. The load
generator shares the 2 cores with the servers, equally for the floors and the
app. Finally VADER is timed in-process through `feedback.sentiment.score`, the
one shared analyzer, beside the cost of building a fresh
`SentimentIntensityAnalyzer()`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import math
import multiprocessing
import os
import platform
import queue
import random
import re
import secrets
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

# Only the standard library and requests at the top: the client processes are
# spawned and import this module again, and they need nothing else. The
# database code is imported where it is used (SQLAlchemy, psycopg, the project,
# and bare_app, which is beside this file).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
HOST = "127.0.0.1"
# A submit against a protected form POST (the form floor) of the same round.
TARGET_RATIO = 0.50
STAGE, TOUCHPOINT = "purchase", "checkout"  # CSAT, 1-5
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
ERROR_RE = re.compile(r'class="error"[^>]*>([^<]+)<')
TITLE_RE = re.compile(r"<title>([^<]+)</title>")
# Waits that only matter when something is wrong: the run always ends by itself.
START_TIMEOUT_S = 30.0
PHASE_TIMEOUT_S = 600.0
MAX_ERRORS_KEPT = 20

# -- answers ----------------------------------------------------------------------------

POSITIVE = (
    "The checkout was quick and the plants arrived in perfect condition.",
    "Lovely service, really easy to order and delivery was a day early!",
    "Great prices and the packaging was excellent. Will definitely buy again.",
    "Very happy with my order, the monstera is gorgeous and healthy.",
    "Smooth payment, clear emails, and friendly support when I had a question.",
    "Best online plant shop I have used. Fast, careful and well priced :)",
    "Everything went well, the tracking link was helpful and accurate.",
    "Superb! The fern is thriving and the care card was a nice touch.",
)
NEGATIVE = (
    "The checkout kept failing and I was charged twice. Very frustrating.",
    "Delivery was late and the pot arrived cracked. Disappointed.",
    "Terrible experience, nobody answered my emails about the missing order.",
    "The plant was dead on arrival and the refund took weeks. Not happy.",
    "Confusing checkout, the discount code did not work and shipping was expensive.",
    "Awful packaging, soil everywhere and two leaves broken. Never again.",
)
NEUTRAL = (
    "Order arrived on Tuesday as expected.",
    "It was fine. The website could be a little faster on mobile.",
    "Delivery took four days. The plant looks as described.",
    "Paid by card, got a confirmation email, parcel came by courier.",
)
EXTRAS = (
    "",
    " Thanks!",
    " The courier was polite.",
    " I ordered for my mum's birthday.",
    " Second order this year.",
    " Would like more pet-safe plants.",
)
NAMES = ("Sam P.", "Alex", "Priya K.", "Jordan from Leeds", "M. Okafor", "Chris")


def make_answers(count: int, seed: int) -> list[dict[str, str]]:
    """Varied form bodies: mostly happy, some unhappy, some neutral, some opting in."""
    rng = random.Random(seed)
    answers = []
    for _ in range(count):
        mood = rng.random()
        if mood < 0.6:
            comment, rating = rng.choice(POSITIVE), rng.choice("45")
        elif mood < 0.85:
            comment, rating = rng.choice(NEGATIVE), rng.choice("12")
        else:
            comment, rating = rng.choice(NEUTRAL), "3"
        answer = {"rating": rating, "comment": comment + rng.choice(EXTRAS)}
        if rating in "45" and rng.random() < 0.4:
            answer["testimonial_opt_in"] = "y"
            answer["display_name"] = rng.choice(NAMES)
        answers.append(answer)
    return answers


def vader_comments(count: int, seed: int) -> list[str]:
    """Short comments for the in-process VADER timing, varied by combination."""
    rng = random.Random(seed)
    pool = POSITIVE + NEGATIVE + NEUTRAL
    return [
        (rng.choice(pool) + rng.choice(EXTRAS)).upper()
        if rng.random() < 0.05
        else rng.choice(pool) + rng.choice(EXTRAS)
        for _ in range(count)
    ]


# -- load generator (runs in client processes) ----------------------------------------


def csrf_token_from(html: str) -> str | None:
    match = CSRF_RE.search(html)
    return (match.group(1) or match.group(2)) if match else None


def _describe(method: str, url: str, response: requests.Response) -> str:
    """The request and what came back: the page's error message or title if it has one."""
    found = ERROR_RE.search(response.text) or TITLE_RE.search(response.text)
    said = found.group(1) if found else response.text[:160]
    return f"{method} {url} -> {response.status_code}: {' '.join(said.split())}"


def _open_form(
    session: requests.Session, url: str, timeout: float, errors: list[str]
) -> str | None:
    """GET the form; its CSRF token, or None after recording the error."""
    try:
        response = session.get(url, timeout=timeout, allow_redirects=False)
    except requests.RequestException as error:
        errors.append(f"GET {url}: {error!r}")
        return None
    token = csrf_token_from(response.text) if response.status_code == 200 else None
    if token is None:
        errors.append(_describe("GET", url, response))
    return token


def _post(
    session: requests.Session, url: str, data: dict[str, str], timeout: float, errors: list[str]
) -> bool:
    """POST a form; True on the expected 303, else the error is recorded."""
    try:
        response = session.post(url, data=data, timeout=timeout, allow_redirects=False)
    except requests.RequestException as error:
        errors.append(f"POST {url}: {error!r}")
        return False
    if response.status_code != 303:
        errors.append(_describe("POST", url, response))
        return False
    return True


def client_process(
    kind: str,
    base_url: str,
    items: list[Any],
    timeout: float,
    go: Any,
    results: Any,
) -> None:
    """One client: prepare (untimed), say it is ready, wait for `go`, then run its share.

    kind "bare": items are form bodies posted to /insert with one session.
    kind "opened": items are (path, body), a survey's /s/<token> or the form floor's
    /form; every form is opened first (one session each), untimed, then posted.
    kind "flow": items are (token, body); each is a fresh session's GET + POST.
    Puts a dict with start/end (time.monotonic), the client's CPU seconds in between,
    latencies (s) and errors.
    """
    errors: list[str] = []
    latencies: list[float] = []
    prepared: list[tuple[requests.Session, str, dict[str, str]]] = []
    try:
        if kind == "opened":
            for path, body in items:
                url = f"{base_url}{path}"
                session = requests.Session()
                csrf = _open_form(session, url, timeout, errors)
                if csrf is not None:
                    prepared.append((session, url, {**body, "csrf_token": csrf}))
                else:
                    session.close()
        bare_session = requests.Session()
        results.put({"ready": True})
        if not go.wait(timeout=PHASE_TIMEOUT_S):
            raise TimeoutError("never told to start")
        start, cpu = time.monotonic(), time.process_time()
        if kind == "bare":
            url = f"{base_url}/insert"
            for body in items:
                t0 = time.perf_counter()
                if _post(bare_session, url, body, timeout, errors):
                    latencies.append(time.perf_counter() - t0)
        elif kind == "opened":
            for session, url, body in prepared:
                t0 = time.perf_counter()
                if _post(session, url, body, timeout, errors):
                    latencies.append(time.perf_counter() - t0)
        elif kind == "flow":
            for token, body in items:
                url = f"{base_url}/s/{token}"
                t0 = time.perf_counter()
                with requests.Session() as session:
                    csrf = _open_form(session, url, timeout, errors)
                    if csrf is not None and _post(
                        session, url, {**body, "csrf_token": csrf}, timeout, errors
                    ):
                        latencies.append(time.perf_counter() - t0)
        else:
            raise ValueError(kind)
        end, cpu = time.monotonic(), time.process_time() - cpu
        for session, _, _ in prepared:
            session.close()
        results.put(
            {"start": start, "end": end, "cpu": cpu, "latencies": latencies, "errors": errors}
        )
    except BaseException as error:  # report it: never leave the parent waiting
        results.put({"fatal": f"{kind} client: {error!r}"})
        raise


@dataclasses.dataclass
class PhaseResult:
    """One timed phase: `requests` counts the timed operations that succeeded."""

    name: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    error_samples: list[str]
    server_cpu_ms: float | None  # the gunicorn workers' CPU per timed operation
    client_cpu_ms: float  # the load generator's CPU per timed operation
    # Every timed latency (s), for percentiles pooled over rounds.
    latencies: list[float] = dataclasses.field(default_factory=list, repr=False)

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of `values` (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1]


def run_clients(
    target: Any, args_per_client: list[tuple[Any, ...]], server: Server
) -> tuple[list[dict[str, Any]], float | None]:
    """Start one spawned process per argument tuple, release them together, gather results.

    `target(*args, go, results)` puts a "ready" message, waits for `go`, then a
    "latencies" message. Returns those messages and the CPU seconds the
    server's workers spent meanwhile (None when /proc cannot tell).
    """
    ctx = multiprocessing.get_context("spawn")
    clients = len(args_per_client)
    go = ctx.Event()
    results = ctx.Queue()
    processes = [
        ctx.Process(target=target, args=(*args, go, results), daemon=True)
        for args in args_per_client
    ]
    for process in processes:
        process.start()
    gathered: list[dict[str, Any]] = []
    fatal: list[str] = []
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    server_cpu = server_cpu_end = None
    try:
        ready = _collect(results, processes, clients, "ready", deadline, fatal)
        if len(ready) == clients and not fatal:
            server_cpu = server.workers_cpu_seconds()
            go.set()
            gathered = _collect(results, processes, clients, "latencies", deadline, fatal)
            server_cpu_end = server.workers_cpu_seconds()
    finally:
        go.set()  # lets clients still waiting end at once
        for process in processes:
            process.join(timeout=0.5 if fatal else 10)
            if process.is_alive():
                process.terminate()
                process.join()
    if fatal:
        raise RuntimeError("; ".join(fatal))
    spent = (
        server_cpu_end - server_cpu
        if server_cpu is not None and server_cpu_end is not None
        else None
    )
    return gathered, spent


def run_phase(
    name: str, kind: str, server: Server, items: list[Any], clients: int, timeout: float
) -> PhaseResult:
    """Share `items` among `clients` processes, start them together, gather the figures."""
    clients = max(1, min(clients, len(items)))
    gathered, server_cpu = run_clients(
        client_process,
        [(kind, server.base_url, items[i::clients], timeout) for i in range(clients)],
        server,
    )
    starts = [m["start"] for m in gathered if m["start"] is not None]
    ends = [m["end"] for m in gathered if m["end"] is not None]
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


def _collect(
    results: Any,
    processes: list[Any],
    count: int,
    key: str,
    deadline: float,
    fatal: list[str],
) -> list[dict[str, Any]]:
    """`count` messages holding `key` from the clients; stops early on a failed client."""
    messages: list[dict[str, Any]] = []
    dead_seen = False
    while len(messages) < count and not fatal:
        try:
            message = results.get(timeout=0.5)
        except queue.Empty:
            if time.monotonic() > deadline:
                fatal.append(f"clients still running after {PHASE_TIMEOUT_S:.0f} s")
            elif any(p.exitcode not in (None, 0) for p in processes):
                if dead_seen:  # one more look for what it reported first
                    fatal.append("a client process died without reporting")
                dead_seen = True
            continue
        if "fatal" in message:
            fatal.append(message["fatal"])
        elif key in message:
            messages.append(message)
    return messages


# -- databases ---------------------------------------------------------------------------


def postgres_answers(server_url: str) -> str | None:
    """The server's version, or None when it does not answer."""
    import psycopg

    try:
        with psycopg.connect(server_url, connect_timeout=3) as conn:
            row = conn.execute("SHOW server_version").fetchone()
    except psycopg.Error:
        return None
    return str(row[0]) if row else "?"


def with_database(server_url: str, name: str) -> str:
    import sqlalchemy as sa

    return sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)


@contextlib.contextmanager
def fresh_postgres_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server, dropped afterwards."""
    import sqlalchemy as sa

    name = f"feedback_bench_{uuid.uuid4().hex[:10]}"
    admin_url = with_database(server_url, "postgres").replace(
        "postgresql://", "postgresql+psycopg://", 1
    )
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(server_url, name)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def seed_app_database(url: str, invitations: int) -> tuple[list[str], float]:
    """Migrate to head, then a workspace with sent invitations; their raw tokens, seconds."""
    from flask_migrate import upgrade

    from feedback import create_app
    from feedback.accounts.services import create_workspace
    from feedback.answers import mark_sent
    from feedback.config import config_for_tests
    from feedback.db import utcnow
    from feedback.extensions import db
    from feedback.surveys.services import invite

    t0 = time.perf_counter()
    app = create_app(config_for_tests(url))
    tokens = []
    with app.app_context():
        logging.disable(logging.INFO)  # Alembic's "Running upgrade" lines
        try:
            upgrade()
        finally:
            logging.disable(logging.NOTSET)
        session = db.session
        workspace = create_workspace(session, "Bench Plants")
        now = utcnow()
        for n in range(invitations):
            issued = invite(
                session,
                workspace,
                stage_key=STAGE,
                touchpoint_key=TOUCHPOINT,
                email=f"customer{n}@example.com",
                name=f"Customer {n}",
                now=now,
            )
            mark_sent(session, workspace, issued.invitation, now)
            tokens.append(issued.token)
        session.commit()
        session.remove()
        db.engine.dispose()
    return tokens, time.perf_counter() - t0


def count_app_rows(url: str) -> dict[str, int]:
    """Rows written by the submits: responses, testimonials, answered invitations."""
    import bare_app
    import sqlalchemy as sa

    engine = bare_app.engine_for(url)
    with engine.connect() as conn:
        counts = {
            "responses": conn.execute(sa.text("SELECT count(*) FROM response")).scalar_one(),
            "testimonials": conn.execute(sa.text("SELECT count(*) FROM testimonial")).scalar_one(),
            "answered": conn.execute(
                sa.text("SELECT count(*) FROM invitation WHERE status = 'answered'")
            ).scalar_one(),
            "rollup_responses": conn.execute(
                sa.text("SELECT coalesce(sum(responses), 0) FROM stage_daily_stat")
            ).scalar_one(),
        }
    engine.dispose()
    return {k: int(v) for k, v in counts.items()}


# -- servers -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def gunicorn_command(app_spec: str, port: int, workers: int) -> list[str]:
    """The same command for the app and the floor: sync workers, no access log."""
    script = Path(sys.executable).with_name("gunicorn")
    launcher = [str(script)] if script.exists() else [sys.executable, "-m", "gunicorn"]
    return [*launcher, "--workers", str(workers), "--bind", f"{HOST}:{port}", app_spec]


@dataclasses.dataclass(frozen=True)
class Server:
    """A running gunicorn: where it answers and its master's process id."""

    base_url: str
    pid: int

    def workers_cpu_seconds(self) -> float | None:
        """User + system CPU used so far by the master's worker processes (Linux only)."""
        ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        total = 0
        try:
            entries = list(os.scandir("/proc"))
        except OSError:
            return None
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            # After "pid (comm)": state, ppid, ... utime and stime are fields 14 and 15.
            fields = stat.rpartition(")")[2].split()
            if int(fields[1]) == self.pid:
                total += int(fields[11]) + int(fields[12])
        return total / ticks


@contextlib.contextmanager
def gunicorn(app_spec: str, env: dict[str, str], workers: int, log: Path) -> Iterator[Server]:
    """Serve `app_spec` from the project root until the block ends."""
    port = free_port()
    base_url = f"http://{HOST}:{port}"
    environ = {**os.environ, **env, "BASE_URL": base_url}
    with log.open("ab") as log_file:
        process = subprocess.Popen(
            gunicorn_command(app_spec, port, workers),
            cwd=PROJECT_ROOT,
            env=environ,
            stdout=log_file,
            stderr=log_file,
        )
    try:
        wait_until_up(base_url, process, log)
        yield Server(base_url, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_up(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{tail(log)}")
        with contextlib.suppress(requests.RequestException):
            requests.get(base_url + "/", timeout=2, allow_redirects=False)
            return
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer on {base_url} in {START_TIMEOUT_S:.0f} s")


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# -- one database ------------------------------------------------------------------------

BARE, SUBMIT, FORM = "bare insert", "submit only", "form floor"
ROUND_PHASES = (BARE, SUBMIT, FORM)  # the order of even rounds; odd rounds run it reversed


def ratio(value: float, floor: float) -> float:
    return value / floor if floor else 0.0


@dataclasses.dataclass(frozen=True)
class PhaseSummary:
    """One phase over the rounds: medians of the rounds, percentiles of all latencies."""

    requests: int
    seconds: float
    per_second: float
    p50_ms: float
    p99_ms: float
    server_cpu_ms: float | None
    client_cpu_ms: float
    errors: int

    @classmethod
    def of(cls, results: list[PhaseResult]) -> PhaseSummary:
        latencies = [x for r in results for x in r.latencies]
        cpus = [r.server_cpu_ms for r in results if r.server_cpu_ms is not None]
        return cls(
            requests=sum(r.requests for r in results),
            seconds=sum(r.seconds for r in results),
            per_second=statistics.median(r.per_second for r in results),
            p50_ms=percentile(latencies, 50) * 1000,
            p99_ms=percentile(latencies, 99) * 1000,
            server_cpu_ms=statistics.median(cpus) if cpus else None,
            client_cpu_ms=statistics.median(r.client_cpu_ms for r in results),
            errors=sum(r.errors for r in results),
        )


@dataclasses.dataclass
class DatabaseRun:
    """The rounds and the full flow on one database, and what was checked afterwards."""

    database: str
    label: str
    rounds: list[dict[str, PhaseResult]]  # phase name -> result, in the order they ran
    full_flow: PhaseResult
    seed_seconds: float
    check_errors: list[str]

    def labelled_phases(self) -> list[tuple[str, PhaseResult]]:
        """Every timed phase, with the round it belongs to."""
        labelled = [
            (f"round {i} {name}", result)
            for i, phases in enumerate(self.rounds, 1)
            for name, result in phases.items()
        ]
        return [*labelled, (self.full_flow.name, self.full_flow)]

    def summary(self, name: str) -> PhaseSummary:
        return PhaseSummary.of([phases[name] for phases in self.rounds])

    def ratios(self, name: str, floor: str = BARE) -> list[float]:
        """Per round: the phase's requests/s over the floor's of the same round."""
        return [ratio(p[name].per_second, p[floor].per_second) for p in self.rounds]

    @property
    def submit_ratio(self) -> float:
        """The median of the rounds' submit/bare-floor ratios (information)."""
        return statistics.median(self.ratios(SUBMIT))

    @property
    def form_floor_ratio(self) -> float:
        return statistics.median(self.ratios(FORM))

    @property
    def submit_vs_form_ratio(self) -> float:
        """The verdict's figure: the median of the rounds' submit/form-floor ratios."""
        return statistics.median(self.ratios(SUBMIT, FORM))

    @property
    def flow_ratio(self) -> float:
        """The full flow (run once) over the floor's median requests/s."""
        return ratio(self.full_flow.per_second, self.summary(BARE).per_second)

    @property
    def error_count(self) -> int:
        return sum(p.errors for _, p in self.labelled_phases()) + len(self.check_errors)


def bench_database(
    database: str, label: str, app_url: str, bare_url: str, args: argparse.Namespace, work: Path
) -> DatabaseRun:
    """Seed, serve the floors and the app side by side, run the rounds then the full flow."""
    import bare_app

    n, warm, rounds = args.answers, args.warmup, args.rounds
    total = warm + rounds * n + n  # warm-up, the rounds' submits, the full flow
    print(f"\n== {label}   (load average {load_average()})", flush=True)
    print(f"   seeding {total} invitations through the services ...", flush=True)
    tokens, seed_seconds = seed_app_database(app_url, total)
    print(f"   seeded in {seed_seconds:.1f} s", flush=True)
    bare_app.create_schema(bare_url)
    answers = make_answers(total, seed=7)
    # The floor's body: the same fields and sizes, with a token as long as Flask-WTF's.
    fake_csrf = secrets.token_urlsafe(68)[:91]
    bare_bodies = [{**a, "csrf_token": fake_csrf} for a in answers]
    pairs = list(zip(tokens, answers, strict=True))
    survey_items = [(f"/s/{token}", body) for token, body in pairs]
    form_items = [("/form", body) for body in answers]
    bare_log = work / f"gunicorn-{database}-floor.log"
    form_log = work / f"gunicorn-{database}-form-floor.log"
    app_log = work / f"gunicorn-{database}-app.log"
    settings = f"{args.workers} sync workers each, {args.clients} clients"

    def phase(name: str, kind: str, server: Server, items: list[Any]) -> PhaseResult:
        return run_phase(name, kind, server, items, args.clients, args.timeout)

    bare_env = {"BARE_DATABASE_URL": bare_url, "BARE_SECRET_KEY": secrets.token_urlsafe(48)}
    app_env = {
        "FEEDBACK_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": app_url,
        "FEEDBACK_INSTANCE_PATH": str(work / "instance"),
    }
    print(
        f"   floors: bench/bare_app.py (two apps) and app: wsgi:app, each under gunicorn"
        f" ({settings})",
        flush=True,
    )
    results: list[dict[str, PhaseResult]] = []
    with (
        gunicorn("bench.bare_app:create_app()", bare_env, args.workers, bare_log) as floor,
        gunicorn(
            "bench.bare_app:create_form_app()", bare_env, args.workers, form_log
        ) as form_floor,
        gunicorn("wsgi:app", app_env, args.workers, app_log) as app,
    ):
        warm_ups = [
            phase("warm-up", "bare", floor, bare_bodies[:warm]),
            phase("warm-up", "opened", form_floor, form_items[:warm]),
            phase("warm-up", "flow", app, pairs[:warm]),
        ]
        for r in range(rounds):
            share = slice(warm + r * n, warm + (r + 1) * n)
            jobs = {
                BARE: ("bare", floor, bare_bodies[share]),
                SUBMIT: ("opened", app, survey_items[share]),
                FORM: ("opened", form_floor, form_items[share]),
            }
            order = ROUND_PHASES if r % 2 == 0 else ROUND_PHASES[::-1]
            print(f"   round {r + 1}/{rounds}: {', '.join(order)}", flush=True)
            done = {name: report(phase(name, *jobs[name])) for name in order}
            results.append(done)
            speed = {name: result.per_second for name, result in done.items()}
            print(
                f"   {'':<12} submit/floor {ratio(speed[SUBMIT], speed[BARE]):.1%},"
                f" form floor/floor {ratio(speed[FORM], speed[BARE]):.1%},"
                f" submit/form floor {ratio(speed[SUBMIT], speed[FORM]):.1%}",
                flush=True,
            )
        print("   after the rounds (info):", flush=True)
        full_flow = report(phase("full flow", "flow", app, pairs[warm + rounds * n :]))

    check_errors = [f"warm-up: {e}" for w in warm_ups for e in w.error_samples]
    check_errors += check_rows(
        app_url,
        bare_url,
        answers,
        notes_expected=warm + rounds * n,
        form_notes_expected=warm + rounds * n,
    )
    run = DatabaseRun(database, label, results, full_flow, seed_seconds, check_errors)
    if check_errors or any(p.errors for _, p in run.labelled_phases()):
        for log in (bare_log, form_log, app_log):
            print(f"   server log ({log}):\n{tail(log)}", flush=True)
    return run


def check_rows(
    app_url: str,
    bare_url: str,
    answers: list[dict[str, str]],
    notes_expected: int,
    form_notes_expected: int,
) -> list[str]:
    """What the databases hold against what was sent; the differences, if any."""
    import bare_app

    problems = []
    notes = bare_app.count_notes(bare_url)
    if notes != notes_expected:
        problems.append(f"bench_note has {notes} rows, expected {notes_expected}")
    form_notes = bare_app.count_form_notes(bare_url)
    if form_notes != form_notes_expected:
        problems.append(f"bench_form_note has {form_notes} rows, expected {form_notes_expected}")
    rows = count_app_rows(app_url)
    for key, want in (
        ("responses", len(answers)),
        ("answered", len(answers)),
        ("rollup_responses", len(answers)),
        ("testimonials", sum(1 for a in answers if a.get("testimonial_opt_in"))),
    ):
        if rows[key] != want:
            problems.append(f"{key}: {rows[key]} in the database, expected {want}")
    return problems


def load_average() -> str:
    with contextlib.suppress(OSError, AttributeError):
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    return "?"


def report(result: PhaseResult) -> PhaseResult:
    """Print one phase as soon as it is done."""
    errors = f", {result.errors} ERRORS" if result.errors else ""
    server = f"{result.server_cpu_ms:5.2f}" if result.server_cpu_ms is not None else "  ?"
    print(
        f"   {result.name:<12} {result.requests:>6} in {result.seconds:6.2f} s"
        f" = {result.per_second:7.1f}/s  p50 {result.p50_ms:6.1f} ms"
        f"  p99 {result.p99_ms:6.1f} ms  CPU/op: server {server} ms,"
        f" clients {result.client_cpu_ms:5.2f} ms{errors}",
        flush=True,
    )
    return result


# -- VADER -------------------------------------------------------------------------------


def bench_vader(count: int) -> dict[str, float]:
    """Scores/s through `feedback.sentiment.score`, and the cost of a fresh analyzer."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from feedback import sentiment

    builds = []
    for _ in range(5):
        t0 = time.perf_counter()
        SentimentIntensityAnalyzer()
        builds.append(time.perf_counter() - t0)
    comments = vader_comments(count, seed=11)
    sentiment.score("warm up the shared analyzer")
    t0 = time.perf_counter()
    for comment in comments:
        sentiment.score(comment)
    seconds = time.perf_counter() - t0
    return {
        "comments": count,
        "seconds": seconds,
        "scores_per_second": count / seconds,
        "us_per_score": seconds / count * 1e6,
        "analyzer_build_ms": statistics.median(builds) * 1000,
    }


# -- the run around the databases -------------------------------------------------------


def start_run(
    sqlite_only: bool, postgres_url: str, settings: str
) -> tuple[list[str], str | None, dict[str, Any]]:
    """What every benchmark does first: (notes, PostgreSQL's version or None, the machine).

    Asks PostgreSQL (unless `sqlite_only`), prints the machine line with the
    run's `settings`, and notes a machine already busy, which makes figures noisier.
    """
    notes: list[str] = []
    postgres_version = None
    if not sqlite_only:
        postgres_version = postgres_answers(postgres_url)
        if postgres_version is None:
            notes.append(f"PostgreSQL at {postgres_url} does not answer: skipped.")
            print(f"NOTE: {notes[-1]}", flush=True)
    machine = machine_info(postgres_version)
    print(
        f"Machine: {machine['cpus']} CPUs, Python {machine['python']}, SQLite {machine['sqlite']}, "
        f"PostgreSQL {postgres_version or '-'}, gunicorn {machine['gunicorn']}; {settings}",
        flush=True,
    )
    with contextlib.suppress(OSError, AttributeError):
        if os.getloadavg()[0] > 0.5 * (os.cpu_count() or 1):
            notes.append(
                f"the load average was {load_average()} when the run started: if other "
                "processes are busy, they compete for the CPU and the figures are noisier."
            )
            print(f"NOTE: {notes[-1]}", flush=True)
    return notes, postgres_version, machine


def databases(
    work: Path, postgres_url: str, postgres_version: str | None
) -> Iterator[tuple[str, str, str]]:
    """(key, label, URL): a SQLite file in `work`, then, when PostgreSQL answered, a fresh
    database on it, dropped once the caller moves on."""
    yield (
        "sqlite",
        f"SQLite {sqlite3.sqlite_version} (WAL, synchronous=NORMAL)",
        f"sqlite:///{work / 'feedback.sqlite'}",
    )
    if postgres_version is not None:
        with fresh_postgres_database(postgres_url) as url:
            yield "postgresql", f"PostgreSQL {postgres_version}", url


def machine_line(machine: dict[str, Any]) -> str:
    """The machine, for the summary at the end."""
    return (
        f"Machine: {machine['cpus']} CPUs, Python {machine['python']}, "
        f"SQLite {machine['sqlite']}, PostgreSQL {machine['postgresql'] or '-'}"
    )


# -- output ------------------------------------------------------------------------------


def machine_info(postgres_version: str | None) -> dict[str, Any]:
    import gunicorn as gunicorn_package

    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres_version,
        "gunicorn": gunicorn_package.__version__,
        "load_average_at_start": load_average(),
    }


def table(run: DatabaseRun) -> str:
    """The plain-text table for one database: medians over the rounds."""
    verdict = "PASS" if run.submit_vs_form_ratio >= TARGET_RATIO else "BELOW"

    def spread(ratios: list[float]) -> str:
        return f"(rounds: {min(ratios):.1%}-{max(ratios):.1%})"

    submit_ratios, form_ratios = run.ratios(SUBMIT), run.ratios(FORM)
    rows: list[tuple[str, PhaseSummary | PhaseResult, str]] = [
        ("bare insert (floor)", run.summary(BARE), "100% (floor)"),
        (
            "submit only (POST)",
            run.summary(SUBMIT),
            f"median ratio {run.submit_ratio:.1%} {spread(submit_ratios)} (info)",
        ),
        (
            "form floor (POST)",
            run.summary(FORM),
            f"median ratio {run.form_floor_ratio:.1%} {spread(form_ratios)} (info)",
        ),
        ("full flow (GET+POST)", run.full_flow, f"{run.flow_ratio:.1%} (info)"),
    ]
    lines = [
        f"{run.label}: median of {len(run.rounds)} rounds (full flow: once, after them)",
        f"  {'':<22}{'requests/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms/op':>11}  ratio to floor",
    ]
    for name, phase, text in rows:
        cpu = f"{phase.server_cpu_ms:.2f}" if phase.server_cpu_ms is not None else "?"
        figures = f"{phase.per_second:>11.1f}{phase.p50_ms:>9.1f}{phase.p99_ms:>9.1f}{cpu:>11}"
        lines.append(f"  {name:<22}{figures}  {text}")
    lines.append(
        f"  submit vs form floor: median {run.submit_vs_form_ratio:.1%}"
        f" {spread(run.ratios(SUBMIT, FORM))} {verdict} (target >= {TARGET_RATIO:.0%})"
    )
    return "\n".join(lines)


def phase_json(phase: PhaseResult | PhaseSummary) -> dict[str, Any]:
    return {
        "requests": phase.requests,
        "seconds": phase.seconds,
        "per_second": phase.per_second,
        "p50_ms": phase.p50_ms,
        "p99_ms": phase.p99_ms,
        "server_cpu_ms_per_op": phase.server_cpu_ms,
        "client_cpu_ms_per_op": phase.client_cpu_ms,
        "errors": phase.errors,
    }


def as_json(
    runs: list[DatabaseRun],
    vader: dict[str, float],
    machine: dict[str, Any],
    args: argparse.Namespace,
    notes: list[str],
) -> dict[str, Any]:
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "settings": {
            "answers_per_phase": args.answers,  # per phase and per round
            "rounds": args.rounds,
            "warmup": args.warmup,
            "clients": args.clients,
            "gunicorn_workers": args.workers,
            "timeout_s": args.timeout,
        },
        "target_ratio": TARGET_RATIO,
        "databases": {
            run.database: {
                "label": run.label,
                "seed_seconds": run.seed_seconds,
                # Medians of the per-round ratios; the verdict uses submit_vs_form_floor_ratio.
                "submit_ratio": run.submit_ratio,
                "form_floor_ratio": run.form_floor_ratio,
                "submit_vs_form_floor_ratio": run.submit_vs_form_ratio,
                "flow_ratio": run.flow_ratio,
                "pass": run.submit_vs_form_ratio >= TARGET_RATIO,
                # Medians over the rounds (p50/p99 over all the rounds' latencies),
                # and the full flow, run once.
                "phases": {
                    **{name: phase_json(run.summary(name)) for name in ROUND_PHASES},
                    run.full_flow.name: phase_json(run.full_flow),
                },
                "rounds": [
                    {
                        "order": list(phases),
                        "submit_ratio": ratio(phases[SUBMIT].per_second, phases[BARE].per_second),
                        "form_floor_ratio": ratio(phases[FORM].per_second, phases[BARE].per_second),
                        "submit_vs_form_floor_ratio": ratio(
                            phases[SUBMIT].per_second, phases[FORM].per_second
                        ),
                        "phases": {name: phase_json(p) for name, p in phases.items()},
                    }
                    for phases in run.rounds
                ],
                "check_errors": run.check_errors,
            }
            for run in runs
        },
        "vader": vader,
        "notes": notes,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--answers",
        type=int,
        default=500,
        help="timed requests per phase and per round (default 500)",
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="rounds of floor / submit / form floor (default 5)"
    )
    parser.add_argument("--clients", type=int, default=8, help="client processes (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument(
        "--warmup", type=int, default=100, help="untimed requests before each server's phases"
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
    parser.add_argument(
        "--vader-comments", type=int, default=20_000, help="comments scored in-process"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if (
        args.answers < 1
        or args.rounds < 1
        or args.clients < 1
        or args.workers < 1
        or args.warmup < 0
    ):
        parser.error("--answers, --rounds, --clients and --workers must be positive, --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = (
        f"{args.rounds} rounds of {args.answers} requests per phase, {args.clients} clients, "
        f"{args.workers} sync workers"
    )
    notes, postgres_version, machine = start_run(args.sqlite_only, args.postgres_url, settings)
    runs: list[DatabaseRun] = []
    with tempfile.TemporaryDirectory(prefix="feedback-bench-") as tmp:
        work = Path(tmp)
        for key, label, url in databases(work, args.postgres_url, postgres_version):
            # The floor gets its own SQLite file; on PostgreSQL its table sits beside the app's.
            bare_url = f"sqlite:///{work / 'bare.sqlite'}" if key == "sqlite" else url
            runs.append(bench_database(key, label, url, bare_url, args, work))
    print(f"\nVADER: scoring {args.vader_comments} comments in-process ...", flush=True)
    vader = bench_vader(args.vader_comments)

    print("\n" + "=" * 78)
    print(f"Survey submit benchmark: {settings}")
    print(machine_line(machine))
    for run in runs:
        print()
        print(table(run))
    print(
        "\nEach round runs the floor, submit only and the form floor back to back (the"
        "\norder reversed every other round); a ratio compares phases of the same round,"
        "\nand the verdict is the median of the rounds' submit/form-floor ratios."
        "\nCPU ms/op: the gunicorn workers' CPU time per timed request (per GET+POST for the"
        "\nfull flow), from /proc; the load generator's share is printed per phase above."
    )
    print(
        f"\nVADER (feedback.sentiment.score, shared analyzer): "
        f"{vader['scores_per_second']:,.0f} scores/s ({vader['us_per_score']:.0f} us each); "
        f"a fresh SentimentIntensityAnalyzer() costs {vader['analyzer_build_ms']:.1f} ms"
    )
    for note in notes:
        print(f"NOTE: {note}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(as_json(runs, vader, machine, args, notes), indent=2))
        print(f"Figures written to {args.json}")

    failures = sum(run.error_count for run in runs)
    if failures:
        print(f"\nFAILED: {failures} errors", file=sys.stderr)
        for run in runs:
            for name, phase in run.labelled_phases():
                for sample in phase.error_samples:
                    print(f"  {run.database} {name}: {sample}", file=sys.stderr)
            for problem in run.check_errors:
                print(f"  {run.database} check: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
