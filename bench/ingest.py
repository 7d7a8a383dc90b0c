"""Benchmark: touchpoints through the bulk API, and emails through one outbox worker.

Run it with `make bench` (after bench/submit.py), or directly:

    .venv/bin/python bench/ingest.py                      # SQLite, then PostgreSQL
    .venv/bin/python bench/ingest.py --sqlite-only
    .venv/bin/python bench/ingest.py --postgres-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/ingest.py --events 20000 --batch 1000 --clients 2 --emails 3000 \\
        --json bench/results/ingest.json

It measures the two throughput targets of issue 4: invitations/s through
`POST /api/v1/touchpoints/bulk` (target: at least 2,000/s with `send: true`)
and emails/s that ONE outbox worker hands to a local SMTP server (target: at
least 200/s). For each database (a SQLite file in a temporary directory; a
fresh PostgreSQL database, created on the server given and dropped afterwards,
skipped with a note when the server does not answer) it:

1. builds the schema with the project's migrations, then creates a workspace
   (default journey: stage `purchase`, touchpoint `checkout`) and an API key
   through the services;
2. starts the real app, `gunicorn --workers 2 wsgi:app` (sync workers, no access
   log, FEEDBACK_ENV=production, API_RATE_LIMIT=100000/minute so the per-key
   limit stays out of the way) on a free port of 127.0.0.1;
3. *warm-up*: `--warmup` events (400 by default) in requests of 100, untimed
   but checked like the rest; then, on PostgreSQL, `ANALYZE`. On a live database
   autovacuum does that within a minute or so of heavy writes; a fresh, never
   analyzed database would otherwise be measured in a state a running service
   leaves quickly, in which the plans chosen for empty tables (prepared
   statements, foreign-key checks) make every batch slower than the one before,
   and the figure would depend on whether autovacuum happened to run;
4. *bulk ingest*: `--events` touchpoint events (20,000 by default) posted
   `--batch` per request (1,000, the API's maximum) by `--clients` client
   processes (2 by default: one per sync worker) that build their request
   bodies first and then start together. Every event has its own contact (so
   none is throttled), a unique `event_id` and `send: true`: every item must
   come back 201 with an invitation `queued`, each queuing one email;
5. *duplicate batch*: the first timed request is posted again; every item must
   come back 200 with the invitation id it got the first time, and nothing new
   may be created (timed on its own, for information);
6. checks the database: exactly warm-up + events invitations, all `queued`,
   and as many outbox messages, all emails and `pending`.

Then gunicorn is stopped and the *emails* phase runs. An SMTP server (aiosmtpd,
in a process of its own so that it does not share a GIL with the worker; it
counts the messages, notes when the first and last arrived, and discards them)
listens on a free port. All outbox messages but the `--emails` oldest (3,000 by
default; 0 drains them all) are parked: their `next_attempt_at` is moved a year
ahead, so the worker sees exactly `--emails` due messages among all the others.
The real worker, `flask --app wsgi feedback worker --once` (SMTP_URL pointing at
that server), runs as a subprocess from the repository root:

- *startup*: first it runs three times with nothing due (everything parked):
  the median is what starting Python, importing the app and polling an empty
  queue costs;
- then the `--emails` messages are made due and it runs once more, timed from
  process start to exit. Three figures come out of that run: *whole run*
  (emails / wall time, startup included), *excluding startup* (emails /
  (wall time - the startup median)) and *at the SMTP server* (messages between
  the arrival of the first and of the last one / the time between them: the
  steady rate, measured by the receiving end).

Afterwards the worker must have printed `sent N, retrying 0, failed 0`, the
SMTP server must have received exactly N messages for N different addresses,
and the database must hold N outbox messages `sent` (the parked ones still
`pending`) and N invitations `sent`.

Printed per database: invitations/s, p50/p99 latency per request, and "CPU
ms/1000 events", the CPU time the gunicorn workers spent per 1,000 timed events
(read from /proc), which depends far less than the rate on whatever else the
machine is doing; for the worker, its CPU per email (process CPU of the timed
run minus the median of the startup runs). Every request has a timeout; an HTTP
status other than 200, or an item other than expected, is an error: errors are
listed and the run exits non-zero. Being below a target is reported, not an
error. The load generator shares the 2 cores with the server (the SMTP server
shares them with the worker). The whole run on both databases takes about two
minutes here.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import multiprocessing
import os
import re
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

# Only the standard library, requests and submit.py (which imports no more) at
# the top: the client and SMTP processes are spawned and import this module
# again. The project, SQLAlchemy and aiosmtpd are imported where they are used.
BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from submit import (  # noqa: E402  (needs BENCH_DIR on sys.path)
    DEFAULT_POSTGRES_URL,
    HOST,
    MAX_ERRORS_KEPT,
    PHASE_TIMEOUT_S,
    PROJECT_ROOT,
    STAGE,
    START_TIMEOUT_S,
    TOUCHPOINT,
    Server,
    databases,
    free_port,
    gunicorn,
    load_average,
    machine_line,
    percentile,
    run_clients,
    start_run,
    tail,
)

APP_SPEC = "wsgi:app"
BULK_PATH = "/api/v1/touchpoints/bulk"
API_RATE_LIMIT = "100000/minute"
TARGET_INVITATIONS_PER_S = 2000.0
TARGET_EMAILS_PER_S = 200.0
WARMUP_BATCH = 100
STARTUP_RUNS = 3
WORKER_TIMEOUT_S = 600.0
EXCEPTION_RE = re.compile(r"^(?:\w+\.)*\w*(?:Error|Exception)\b.*$", re.MULTILINE)
SENT_RE = re.compile(r"sent (\d+), retrying (\d+), failed (\d+)")

# -- events -----------------------------------------------------------------------------


def make_events(first: int, count: int, occurred_at: str) -> list[dict[str, Any]]:
    """Events `first` .. `first + count - 1`: each its own contact and event_id."""
    return [
        {
            "contact": {"email": f"c{n}@example.com", "name": f"Customer {n}"},
            "stage": STAGE,
            "touchpoint": TOUCHPOINT,
            "event_id": f"order-{n:07d}",
            "occurred_at": occurred_at,
            "send": True,
        }
        for n in range(first, first + count)
    ]


def make_batches(first: int, total: int, size: int) -> list[tuple[int, int]]:
    """(first event, count) of each request."""
    return [(n, min(size, first + total - n)) for n in range(first, first + total, size)]


def body_of(events: list[dict[str, Any]]) -> bytes:
    return json.dumps({"events": events}, separators=(",", ":")).encode()


def check_answer(
    response: requests.Response,
    count: int,
    expect: int,
    expect_ids: list[int] | None = None,
) -> tuple[list[int], list[str]]:
    """The invitation ids of a bulk answer in request order, and what was wrong with it.

    `expect` is the status every item must have: 201 (a new invitation, `queued`,
    with a survey URL) or 200 (seen before: the same invitation id again).
    """
    where = f"POST {BULK_PATH} ({count} events)"
    if response.status_code != 200:
        return [], [f"{where} -> {response.status_code}: {' '.join(response.text[:300].split())}"]
    try:
        results = response.json()["results"]
        assert isinstance(results, list)
    except (ValueError, KeyError, TypeError, AssertionError):
        return [], [f"{where} -> 200 without a results list: {response.text[:200]!r}"]
    if len(results) != count:
        return [], [f"{where} -> {len(results)} results for {count} events"]
    ids: list[int] = []
    wrong: list[str] = []
    for index, item in enumerate(results):
        invitation = item.get("invitation") if isinstance(item, dict) else None
        problem = None
        if not isinstance(invitation, dict) or item.get("status") != expect:
            problem = f"expected status {expect}, got {json.dumps(item)[:300]}"
        elif not isinstance(invitation.get("id"), int):
            problem = f"no invitation id: {json.dumps(item)[:300]}"
        elif invitation.get("status") != "queued":
            problem = f"invitation status {invitation.get('status')!r}, expected 'queued'"
        elif expect == 201 and "/s/" not in str(invitation.get("url")):
            problem = f"no survey url: {json.dumps(item)[:300]}"
        elif expect_ids is not None and invitation["id"] != expect_ids[index]:
            problem = f"invitation id {invitation['id']}, the first answer said {expect_ids[index]}"
        if problem is None:
            ids.append(invitation["id"])
        else:
            wrong.append(f"item {index}: {problem}")
    if wrong:
        return ids, [f"{where}: {len(wrong)} of {count} items wrong, first {wrong[0]}"]
    return ids, []


# -- load generator (runs in client processes) ----------------------------------------


def client_process(
    base_url: str,
    secret: str,
    batches: list[tuple[int, int]],
    occurred_at: str,
    timeout: float,
    go: Any,
    results: Any,
) -> None:
    """One client: build its request bodies, say it is ready, wait for `go`, post them.

    Puts a dict with start/end (time.monotonic), the client's CPU seconds in between,
    the latency of each request (s), the events accepted, the invitation ids by first
    event of each request, and errors. Answers are checked after the timed loop.
    """
    try:
        session = requests.Session()
        session.headers.update(
            {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
        )
        url = base_url + BULK_PATH
        bodies = [
            (first, count, body_of(make_events(first, count, occurred_at)))
            for first, count in batches
        ]
        results.put({"ready": True})
        if not go.wait(timeout=PHASE_TIMEOUT_S):
            raise TimeoutError("never told to start")
        answers: list[tuple[int, int, requests.Response]] = []
        errors: list[str] = []
        latencies: list[float] = []
        start, cpu = time.monotonic(), time.process_time()
        for first, count, body in bodies:
            t0 = time.perf_counter()
            try:
                response = session.post(url, data=body, timeout=timeout)
            except requests.RequestException as error:
                errors.append(f"POST {BULK_PATH} ({count} events): {error!r}")
                continue
            latencies.append(time.perf_counter() - t0)
            answers.append((first, count, response))
        end, cpu = time.monotonic(), time.process_time() - cpu
        session.close()
        ids: dict[int, list[int]] = {}
        accepted = 0
        for first, count, response in answers:
            got, wrong = check_answer(response, count, 201)
            ids[first] = got
            accepted += len(got)
            errors += wrong
        results.put(
            {
                "start": start,
                "end": end,
                "cpu": cpu,
                "latencies": latencies,
                "accepted": accepted,
                "ids": ids,
                "errors": errors,
            }
        )
    except BaseException as error:  # report it: never leave the parent waiting
        results.put({"fatal": f"client: {error!r}"})
        raise


@dataclasses.dataclass
class IngestResult:
    """One phase of bulk requests: `accepted` counts the events that came back right."""

    name: str
    events: int
    requests: int
    accepted: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    error_samples: list[str]
    server_cpu_ms_per_1000: float | None  # the gunicorn workers' CPU per 1,000 events
    client_cpu_ms_per_1000: float
    ids: dict[int, list[int]]

    @property
    def per_second(self) -> float:
        return self.accepted / self.seconds if self.seconds > 0 else 0.0


def run_ingest(
    name: str,
    server: Server,
    secret: str,
    batches: list[tuple[int, int]],
    occurred_at: str,
    clients: int,
    timeout: float,
) -> IngestResult:
    """Share the requests among `clients` processes, start them together, gather the figures."""
    clients = max(1, min(clients, len(batches)))
    gathered, server_cpu = run_clients(
        client_process,
        [
            (server.base_url, secret, batches[i::clients], occurred_at, timeout)
            for i in range(clients)
        ],
        server,
    )
    events = sum(count for _, count in batches)
    latencies = [x for m in gathered for x in m["latencies"]]
    errors = [e for m in gathered for e in m["errors"]]
    per_1000 = 1000 / max(1, events)
    return IngestResult(
        name=name,
        events=events,
        requests=len(batches),
        accepted=sum(m["accepted"] for m in gathered),
        seconds=max(m["end"] for m in gathered) - min(m["start"] for m in gathered),
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        errors=len(errors),
        error_samples=errors[:MAX_ERRORS_KEPT],
        server_cpu_ms_per_1000=(server_cpu * 1000 * per_1000 if server_cpu is not None else None),
        client_cpu_ms_per_1000=sum(m["cpu"] for m in gathered) * 1000 * per_1000,
        ids={first: ids for m in gathered for first, ids in m["ids"].items()},
    )


def repost_batch(
    server: Server,
    secret: str,
    batch: tuple[int, int],
    expect_ids: list[int],
    occurred_at: str,
    timeout: float,
) -> tuple[float, list[str]]:
    """Post one request again: seconds taken, and what was wrong (every item must be 200)."""
    first, count = batch
    body = body_of(make_events(first, count, occurred_at))
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}
    t0 = time.perf_counter()
    try:
        response = requests.post(
            server.base_url + BULK_PATH, data=body, headers=headers, timeout=timeout
        )
    except requests.RequestException as error:
        return time.perf_counter() - t0, [f"POST {BULK_PATH} again: {error!r}"]
    seconds = time.perf_counter() - t0
    if len(expect_ids) != count:
        return seconds, ["the first answer to the re-posted request was wrong: nothing to compare"]
    _, wrong = check_answer(response, count, 200, expect_ids)
    return seconds, [f"re-posted: {w}" for w in wrong]


# -- the SMTP server (runs in its own process) ------------------------------------------


class CountingHandler:
    """An aiosmtpd handler that counts the messages and throws them away."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.messages = 0
        self.recipients: set[str] = set()
        self.first: float | None = None
        self.last: float | None = None
        self.bytes = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.monotonic()  # CLOCK_MONOTONIC: the same clock in every process
        if self.first is None:
            self.first = now
        self.last = now
        self.messages += 1
        self.recipients.update(envelope.rcpt_tos)
        self.bytes += len(envelope.content or b"")
        return "250 OK"

    def stats(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "recipients": len(self.recipients),
            "first": self.first,
            "last": self.last,
            "bytes": self.bytes,
        }


def smtp_server_process(port: int, conn: Any) -> None:
    """Serve SMTP on 127.0.0.1:`port` until told "stop"; answers "stats" and "reset"."""
    try:
        from aiosmtpd.controller import Controller

        handler = CountingHandler()
        controller = Controller(handler, hostname=HOST, port=port)
        controller.start()
    except BaseException as error:
        conn.send({"fatal": repr(error)})
        raise
    conn.send({"ready": True})
    try:
        while True:
            command = conn.recv()
            if command == "stats":
                conn.send(handler.stats())
            elif command == "reset":
                handler.reset()
                conn.send({"ok": True})
            else:
                break
    finally:
        controller.stop()


@contextlib.contextmanager
def smtp_server() -> Any:
    """A counting SMTP server in a spawned process; yields (port, ask) where ask(command)."""
    ctx = multiprocessing.get_context("spawn")
    port = free_port()
    parent, child = ctx.Pipe()
    process = ctx.Process(target=smtp_server_process, args=(port, child), daemon=True)
    process.start()

    def ask(command: str) -> dict[str, Any]:
        parent.send(command)
        if not parent.poll(30):
            raise RuntimeError(f"the SMTP server did not answer {command!r}")
        return parent.recv()

    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not parent.poll(0.1):
            if not process.is_alive():
                raise RuntimeError(f"the SMTP server exited with {process.exitcode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the SMTP server did not start in {START_TIMEOUT_S:.0f} s")
        started = parent.recv()
        if "fatal" in started:
            raise RuntimeError(f"the SMTP server did not start: {started['fatal']}")
        yield port, ask
    finally:
        with contextlib.suppress(OSError):
            parent.send("stop")
        process.join(timeout=10)
        if process.is_alive():
            process.terminate()
            process.join()


# -- databases ---------------------------------------------------------------------------


class AppDatabase:
    """The project's app on one database, for seeding, checks and parking the outbox."""

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
                db.engine.dispose()

    def migrate_and_seed(self) -> str:
        """Schema to head, a workspace with the default journey, an API key: its secret."""
        from flask_migrate import upgrade

        from feedback.accounts.services import create_api_key, create_workspace
        from feedback.db import utcnow

        with self.session() as session:
            logging.disable(logging.INFO)  # Alembic's "Running upgrade" lines
            try:
                upgrade()
            finally:
                logging.disable(logging.NOTSET)
            workspace = create_workspace(session, "Bench Plants")
            secret = create_api_key(session, workspace, "bench", utcnow()).secret
            session.commit()
        return secret

    def analyze(self) -> None:
        """Planner statistics for the tables as they are now (autovacuum's ANALYZE)."""
        import sqlalchemy as sa

        with self.session() as session:
            session.execute(sa.text("ANALYZE"))
            session.commit()

    def counts(self) -> dict[str, int]:
        """Invitations by status, outbox messages by kind and status."""
        import sqlalchemy as sa

        from feedback.delivery.models import OutboxMessage
        from feedback.surveys.models import Invitation

        counts: dict[str, int] = {}
        with self.session() as session:
            for status, n in session.execute(
                sa.select(Invitation.status, sa.func.count()).group_by(Invitation.status)
            ):
                counts[f"invitation {status}"] = n
            for kind, status, n in session.execute(
                sa.select(OutboxMessage.kind, OutboxMessage.status, sa.func.count()).group_by(
                    OutboxMessage.kind, OutboxMessage.status
                )
            ):
                counts[f"outbox {kind} {status}"] = n
        return counts

    def set_due(self, count: int) -> None:
        """Make the `count` oldest pending outbox messages due now and park all others."""
        import sqlalchemy as sa

        from feedback.db import utcnow
        from feedback.delivery.models import OutboxMessage

        now = utcnow()
        pending = OutboxMessage.status == "pending"
        with self.session() as session:
            session.execute(
                sa.update(OutboxMessage)
                .where(pending)
                .values(next_attempt_at=now + dt.timedelta(days=365))
            )
            if count:
                last_id = session.scalar(
                    sa.select(OutboxMessage.id)
                    .where(pending)
                    .order_by(OutboxMessage.id)
                    .offset(count - 1)
                    .limit(1)
                )
                session.execute(
                    sa.update(OutboxMessage)
                    .where(pending, OutboxMessage.id <= last_id)
                    .values(next_attempt_at=now - dt.timedelta(seconds=1))
                )
            session.commit()


def expect_counts(got: dict[str, int], want: dict[str, int], when: str) -> list[str]:
    """The differences between the rows counted and the rows expected (absent means 0)."""
    problems = []
    for key in sorted(set(got) | set(want)):
        if got.get(key, 0) != want.get(key, 0):
            problems.append(f"{when}: {key}: {got.get(key, 0)} rows, expected {want.get(key, 0)}")
    return problems


# -- the worker --------------------------------------------------------------------------


@dataclasses.dataclass
class WorkerRun:
    seconds: float
    cpu_seconds: float
    returncode: int
    output: str

    def sent(self) -> tuple[int, int, int] | None:
        match = SENT_RE.search(self.output)
        return (int(match[1]), int(match[2]), int(match[3])) if match else None


def run_worker(env: dict[str, str]) -> WorkerRun:
    """`flask --app wsgi feedback worker --once` from the project root: wall and CPU seconds."""
    script = Path(sys.executable).with_name("flask")
    launcher = [str(script)] if script.exists() else [sys.executable, "-m", "flask"]
    command = [*launcher, "--app", "wsgi", "feedback", "worker", "--once"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    try:
        done = subprocess.run(
            command,
            cwd=PROJECT_ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=WORKER_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        return WorkerRun(time.monotonic() - t0, 0.0, -1, f"timed out: {error}")
    seconds = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return WorkerRun(seconds, cpu, done.returncode, (done.stdout + done.stderr).strip())


@dataclasses.dataclass
class EmailResult:
    emails: int
    seconds: float  # the whole worker run, process start to exit
    startup_seconds: float  # median of the runs with nothing due
    smtp_seconds: float | None  # first to last message at the SMTP server
    cpu_ms_per_email: float | None  # the worker's CPU minus the startup runs' median
    errors: list[str]

    @property
    def whole_per_second(self) -> float:
        return self.emails / self.seconds if self.seconds > 0 else 0.0

    @property
    def excluding_startup_per_second(self) -> float:
        drain = self.seconds - self.startup_seconds
        return self.emails / drain if drain > 0 else 0.0

    @property
    def smtp_per_second(self) -> float | None:
        if not self.smtp_seconds or self.emails < 2:
            return None
        return (self.emails - 1) / self.smtp_seconds


def bench_emails(
    database: AppDatabase, total: int, emails: int, env: dict[str, str]
) -> EmailResult:
    """Time one worker sending `emails` of the `total` pending outbox messages."""
    errors: list[str] = []
    with smtp_server() as (port, ask):
        env = {**env, "SMTP_URL": f"smtp://{HOST}:{port}", "MAIL_FROM": "bench@example.com"}
        database.set_due(0)
        startups = []
        for _ in range(STARTUP_RUNS):
            run = run_worker(env)
            if run.returncode != 0 or run.sent() != (0, 0, 0):
                errors.append(
                    f"worker with nothing due: exit {run.returncode}: {run.output[-500:]}"
                )
            startups.append(run)
        database.set_due(emails)
        ask("reset")
        print(f"   worker: sending {emails} emails ...", flush=True)
        run = run_worker(env)
        smtp = ask("stats")
    if run.returncode != 0:
        errors.append(f"worker exited with {run.returncode}: {run.output[-1000:]}")
    elif run.sent() != (emails, 0, 0):
        errors.append(
            f"worker said {run.output[-300:]!r}, expected 'sent {emails}, retrying 0, failed 0'"
        )
    if smtp["messages"] != emails or smtp["recipients"] != emails:
        errors.append(
            f"the SMTP server received {smtp['messages']} messages for {smtp['recipients']} "
            f"addresses, expected {emails} for {emails}"
        )
    errors += expect_counts(
        database.counts(),
        {
            "invitation sent": emails,
            "invitation queued": total - emails,
            "outbox email sent": emails,
            "outbox email pending": total - emails,
        },
        "after the worker",
    )
    startup_cpu = statistics.median(r.cpu_seconds for r in startups)
    return EmailResult(
        emails=emails,
        seconds=run.seconds,
        startup_seconds=statistics.median(r.seconds for r in startups),
        smtp_seconds=(smtp["last"] - smtp["first"]) if smtp["first"] is not None else None,
        cpu_ms_per_email=(run.cpu_seconds - startup_cpu) / emails * 1000 if emails else None,
        errors=errors,
    )


# -- one database ------------------------------------------------------------------------


@dataclasses.dataclass
class DatabaseRun:
    """The phases on one database, and what was checked afterwards."""

    database: str
    label: str
    ingest: IngestResult
    repost_seconds: float
    repost_events: int
    repost_ok: bool
    email: EmailResult | None
    check_errors: list[str]

    @property
    def error_count(self) -> int:
        email_errors = len(self.email.errors) if self.email else 0
        return self.ingest.errors + len(self.check_errors) + email_errors

    def all_errors(self) -> list[str]:
        found = [f"bulk ingest: {e}" for e in self.ingest.error_samples]
        found += [f"check: {e}" for e in self.check_errors]
        found += [f"emails: {e}" for e in self.email.errors] if self.email else []
        return found


def bench_database(
    database: str, label: str, url: str, args: argparse.Namespace, work: Path
) -> DatabaseRun:
    """Seed, serve the app, ingest, check; then stop it and time the worker."""
    warm, n = args.warmup, args.events
    total = warm + n
    print(f"\n== {label}   (load average {load_average()})", flush=True)
    t0 = time.perf_counter()
    app_database = AppDatabase(url)
    secret = app_database.migrate_and_seed()
    print(f"   schema and API key in {time.perf_counter() - t0:.1f} s", flush=True)
    occurred_at = (
        (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).replace(microsecond=0).isoformat()
    ).replace("+00:00", "Z")
    log = work / f"gunicorn-{database}.log"
    env = {
        "FEEDBACK_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": url,
        "FEEDBACK_INSTANCE_PATH": str(work / "instance"),
        "API_RATE_LIMIT": API_RATE_LIMIT,
    }
    check_errors: list[str] = []
    settings = f"{args.workers} sync workers, {args.clients} clients"
    print(f"   app: {APP_SPEC} under gunicorn ({settings})", flush=True)
    timed = make_batches(warm, n, args.batch)
    with gunicorn(APP_SPEC, env, args.workers, log) as server:
        if warm:
            warm_up = run_ingest(
                "warm-up",
                server,
                secret,
                make_batches(0, warm, min(WARMUP_BATCH, args.batch)),
                occurred_at,
                args.clients,
                args.timeout,
            )
            check_errors += [f"warm-up: {e}" for e in warm_up.error_samples]
        if database == "postgresql":
            app_database.analyze()
            print("   ANALYZE after the warm-up (autovacuum's job on a live database)", flush=True)
        ingest = report(
            run_ingest(
                "bulk ingest", server, secret, timed, occurred_at, args.clients, args.timeout
            )
        )
        first = timed[0]
        repost_seconds, wrong = repost_batch(
            server, secret, first, ingest.ids.get(first[0], []), occurred_at, args.timeout
        )
        check_errors += wrong
        repost_ok = not wrong
        print(
            f"   duplicate    {first[1]:>6} events posted again in {repost_seconds * 1000:.0f} ms"
            f" = {first[1] / repost_seconds:7.1f} events/s{', ERRORS' if wrong else ', all 200'}",
            flush=True,
        )
        all_ids = [i for ids in ingest.ids.values() for i in ids]
        if len(set(all_ids)) != len(all_ids):
            check_errors.append(
                f"{len(all_ids) - len(set(all_ids))} invitation ids came back twice"
            )
    counts = app_database.counts()
    check_errors += expect_counts(
        counts, {"invitation queued": total, "outbox email pending": total}, "after the ingest"
    )
    if check_errors or ingest.errors:
        print(f"   server log ({log}), its exceptions:\n{exceptions_in(log)}", flush=True)
    # The emails phase needs only a consistent outbox: one pending email per queued
    # invitation, and nothing else. After a partly failed ingest it sends what was queued.
    queued = counts.get("outbox email pending", 0)
    email = None
    if queued and counts == {"invitation queued": queued, "outbox email pending": queued}:
        if queued != total:
            print(f"   emails: the outbox holds {queued} emails, not {total}", flush=True)
        emails = min(args.emails or queued, queued)
        email = report_email(bench_emails(app_database, queued, emails, env))
    else:
        print(f"   emails: skipped, the database holds {counts}", flush=True)
    return DatabaseRun(
        database, label, ingest, repost_seconds, first[1], repost_ok, email, check_errors
    )


def exceptions_in(log: Path, most: int = 8) -> str:
    """The distinct exception lines of a gunicorn log (its last lines if there are none)."""
    found = EXCEPTION_RE.findall(log.read_text(errors="replace")) if log.exists() else []
    lines = [f"     {line[:300]}" for line in dict.fromkeys(found)][:most]
    return "\n".join(lines) if lines else tail(log, 10)


def report(result: IngestResult) -> IngestResult:
    """Print the ingest as soon as it is done."""
    errors = f", {result.errors} ERRORS" if result.errors else ""
    server = (
        f"{result.server_cpu_ms_per_1000:.0f}" if result.server_cpu_ms_per_1000 is not None else "?"
    )
    print(
        f"   {result.name:<12} {result.accepted:>6} of {result.events} events in"
        f" {result.requests} requests, {result.seconds:6.2f} s = {result.per_second:7.1f}/s"
        f"  p50 {result.p50_ms:6.0f} ms  p99 {result.p99_ms:6.0f} ms"
        f"  CPU/1000 events: server {server} ms, clients {result.client_cpu_ms_per_1000:.0f} ms"
        f"{errors}",
        flush=True,
    )
    return result


def report_email(result: EmailResult) -> EmailResult:
    smtp = f"{result.smtp_per_second:.1f}/s" if result.smtp_per_second is not None else "?"
    cpu = f"{result.cpu_ms_per_email:.2f}" if result.cpu_ms_per_email is not None else "?"
    errors = f", {len(result.errors)} ERRORS" if result.errors else ""
    print(
        f"   emails       {result.emails:>6} in {result.seconds:6.2f} s = "
        f"{result.whole_per_second:7.1f}/s whole run; startup (nothing due) "
        f"{result.startup_seconds:.2f} s, so {result.excluding_startup_per_second:.1f}/s "
        f"without it; at the SMTP server {smtp}; worker CPU {cpu} ms/email{errors}",
        flush=True,
    )
    return result


# -- output ------------------------------------------------------------------------------


def verdict(value: float, target: float) -> str:
    return f"{'PASS' if value >= target else 'BELOW TARGET'} (target >= {target:,.0f}/s)"


def table(run: DatabaseRun) -> str:
    """The plain-text table for one database."""
    ingest = run.ingest
    cpu = (
        f"{ingest.server_cpu_ms_per_1000:.0f}" if ingest.server_cpu_ms_per_1000 is not None else "?"
    )
    lines = [
        run.label,
        f"  {'':<34}{'per s':>9}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms':>9}  verdict",
        f"  {'bulk ingest (invitations/s)':<34}{ingest.per_second:>9.1f}{ingest.p50_ms:>9.0f}"
        f"{ingest.p99_ms:>9.0f}{cpu:>9}  {verdict(ingest.per_second, TARGET_INVITATIONS_PER_S)}",
        f"  {'duplicate request (events/s)':<34}"
        f"{run.repost_events / run.repost_seconds if run.repost_seconds else 0:>9.1f}"
        f"{run.repost_seconds * 1000:>9.0f}{'':>9}{'':>9}  "
        + ("(info: all answered 200, none new)" if run.repost_ok else "ERRORS (see below)"),
    ]
    email = run.email
    if email is None:
        lines.append("  emails: not measured (the ingest went wrong)")
    else:
        cpu = f"{email.cpu_ms_per_email:.2f}" if email.cpu_ms_per_email is not None else "?"
        smtp = email.smtp_per_second
        lines += [
            f"  {'emails, whole worker run':<34}{email.whole_per_second:>9.1f}{'':>18}{'':>9}  "
            f"{verdict(email.whole_per_second, TARGET_EMAILS_PER_S)}",
            f"  {'emails, excluding startup':<34}{email.excluding_startup_per_second:>9.1f}"
            f"{'':>18}{cpu:>9}  {verdict(email.excluding_startup_per_second, TARGET_EMAILS_PER_S)}",
            f"  {'emails, at the SMTP server':<34}{smtp or 0:>9.1f}{'':>18}{'':>9}  "
            f"{verdict(smtp or 0, TARGET_EMAILS_PER_S)}",
        ]
    return "\n".join(lines)


def as_json(
    runs: list[DatabaseRun], machine: dict[str, Any], args: argparse.Namespace, notes: list[str]
) -> dict[str, Any]:
    def email_figures(email: EmailResult | None) -> dict[str, Any] | None:
        if email is None:
            return None
        return {
            "emails": email.emails,
            "seconds": email.seconds,
            "startup_seconds": email.startup_seconds,
            "smtp_first_to_last_seconds": email.smtp_seconds,
            "whole_run_per_second": email.whole_per_second,
            "excluding_startup_per_second": email.excluding_startup_per_second,
            "at_smtp_server_per_second": email.smtp_per_second,
            "worker_cpu_ms_per_email": email.cpu_ms_per_email,
            "pass_excluding_startup": email.excluding_startup_per_second >= TARGET_EMAILS_PER_S,
            "pass_whole_run": email.whole_per_second >= TARGET_EMAILS_PER_S,
            "errors": email.errors,
        }

    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "settings": {
            "events": args.events,
            "batch": args.batch,
            "warmup": args.warmup,
            "clients": args.clients,
            "gunicorn_workers": args.workers,
            "emails": args.emails,
            "timeout_s": args.timeout,
        },
        "targets": {
            "invitations_per_second": TARGET_INVITATIONS_PER_S,
            "emails_per_second": TARGET_EMAILS_PER_S,
        },
        "databases": {
            run.database: {
                "label": run.label,
                "ingest": {
                    "events": run.ingest.events,
                    "requests": run.ingest.requests,
                    "accepted": run.ingest.accepted,
                    "seconds": run.ingest.seconds,
                    "invitations_per_second": run.ingest.per_second,
                    "p50_ms": run.ingest.p50_ms,
                    "p99_ms": run.ingest.p99_ms,
                    "server_cpu_ms_per_1000_events": run.ingest.server_cpu_ms_per_1000,
                    "client_cpu_ms_per_1000_events": run.ingest.client_cpu_ms_per_1000,
                    "errors": run.ingest.errors,
                    "pass": run.ingest.per_second >= TARGET_INVITATIONS_PER_S,
                },
                "duplicate_request": {
                    "events": run.repost_events,
                    "seconds": run.repost_seconds,
                },
                "emails": email_figures(run.email),
                "check_errors": run.check_errors,
            }
            for run in runs
        },
        "notes": notes,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="timed events (default 20000)")
    parser.add_argument(
        "--batch", type=int, default=1000, help="events per request (default 1000, the maximum)"
    )
    parser.add_argument("--clients", type=int, default=2, help="client processes (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument(
        "--warmup", type=int, default=400, help="untimed events before the timed ones (default 400)"
    )
    parser.add_argument(
        "--emails",
        type=int,
        default=3000,
        help="emails the worker sends (default 3000; 0: all the ingest queued)",
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds allowed for each request (default 60)"
    )
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help=f"a server where a fresh database may be created (default {DEFAULT_POSTGRES_URL})",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.events < 1 or args.batch < 1 or args.clients < 1 or args.workers < 1:
        parser.error("--events, --batch, --clients and --workers must be positive")
    if args.warmup < 0 or args.emails < 0:
        parser.error("--warmup and --emails must be >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    args = parse_args(argv)
    settings = (
        f"{args.events} events in requests of {args.batch}, {args.clients} clients, "
        f"gunicorn {args.workers} sync workers; {args.emails or 'all'} emails through one worker"
    )
    notes, postgres_version, machine = start_run(args.sqlite_only, args.postgres_url, settings)
    runs: list[DatabaseRun] = []
    with tempfile.TemporaryDirectory(prefix="feedback-bench-") as tmp:
        work = Path(tmp)
        for key, label, url in databases(work, args.postgres_url, postgres_version):
            runs.append(bench_database(key, label, url, args, work))

    print("\n" + "=" * 78)
    print(f"Touchpoint ingest and email benchmark: {settings}")
    print(machine_line(machine))
    for run in runs:
        print()
        print(table(run))
    print(
        "\nbulk ingest: events that came back 201 'queued' / wall time of the timed requests;"
        "\np50/p99 per request; CPU ms: the gunicorn workers' CPU per 1,000 events (from /proc)."
        "\nemails: one `feedback worker --once`; whole run = process start to exit; excluding"
        "\nstartup = minus the median run with nothing due; at the SMTP server = first to last"
        "\nmessage received; CPU ms: the worker's CPU per email, startup's median subtracted."
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
            for problem, times in Counter(run.all_errors()).items():
                again = f" ({times} times)" if times > 1 else ""
                print(f"  {run.database} {problem}{again}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
