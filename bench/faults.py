"""Fault suite: break the running service in four ways under load and count what was lost.

    .venv/bin/python bench/faults.py                 # about 3 minutes
    .venv/bin/python bench/faults.py --short         # the CI version, under 2 minutes
    .venv/bin/python bench/faults.py --seconds-per-fault 30 --json faults.json

Everything runs on this machine, on loopback only: a PostgreSQL cluster of its
own (`initdb` + `pg_ctl` on a free port, in a temporary folder, removed
afterwards; never the machine's shared server), an SMTP server inside this
process (aiosmtpd), `gunicorn --workers 2 wsgi:app` and two
`flask feedback worker` processes, all with production settings. Client
processes keep up a steady load of customers answering their survey links
(`GET /s/<token>` then `POST`, expecting 303) and touchpoint API calls
(`POST /api/v1/touchpoints`, a new `event_id` each, expecting 201). A client
that gets no answer, or a 503, retries as a real one would: a survey answer
with the same form (a 409 "already answered" then means the earlier try was
stored), a touchpoint with the same `event_id` (a 200 then means it was).

Then, one after the other, each after `--seconds-per-fault` of steady load
and followed by as much again:

1. kill -9 one gunicorn worker (the arbiter starts another);
2. restart PostgreSQL (`pg_ctl stop -m fast`, then start on the same port);
3. take SMTP down for `--smtp-down-seconds` (20), then up on the same port;
4. kill -9 a mail worker mid-batch: the SMTP server, on a message from a
   connection that has already delivered one, kills the worker holding that
   connection before answering it; the worker is started again 5 s later,
   as the systemd unit's `RestartSec=5` would.

Before each fault, every email queued before the previous one ended must
have gone out, so each fault's duplicates are its own. Printed per fault:
accepted submits missing from the database, responses stored twice,
invitations whose email never arrived, invitations emailed twice (with the
bound: one batch, 50, per mail worker, since a message sent but not yet
recorded as sent is sent again), 5xx other than 503 seen by clients, and the
seconds until the service answered again (from the fault until the last
failed request); also connection errors, 503s and the slowest email. The
exit code is non-zero when a must-be-0 figure is not 0, the duplicates pass
the bound, or a client saw an answer it should not have (e.g. a 409 to a
first submit).

The workers run with `OUTBOX_LEASE_SECONDS=10` and
`OUTBOX_RETRY_BASE_SECONDS=2` (production: 300 and 60), so the run waits
seconds, not minutes, for a killed worker's claimed emails and for retries
after the SMTP outage. Linux only (it reads /proc to find processes).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import email
import email.policy
import hashlib
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import requests

# Only the standard library and requests at the top (and the bench's own
# modules, which keep to the same rule): the client processes are spawned and
# import this module again.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
for folder in (BENCH_DIR, PROJECT_ROOT):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from load import COMMENTS, seed  # noqa: E402  (needs BENCH_DIR on sys.path)
from submit import HOST, csrf_token_from, free_port, gunicorn, tail  # noqa: E402

SECRET_KEY = "fault-suite-secret-key-0123456789abcdef"
WEB_WORKERS = 2
MAIL_WORKERS = 2
# The worker's batch (DeliverySettings.batch): a worker that dies, or loses its
# database or SMTP server, mid-batch may have sent any of its batch without
# recording it, and those are sent again. So a fault may email an invitation
# twice at most this many times per mail worker.
BATCH = 50
DUPLICATE_BOUND = BATCH * MAIL_WORKERS
LEASE_SECONDS = 10
RETRY_BASE_SECONDS = 2
# deploy/systemd/feedback-worker.service: Restart=on-failure, RestartSec=5.
WORKER_RESTART_SECONDS = 5.0
# (kind, weight): customers answering, systems reporting touchpoints.
MIX = (("customer", 5), ("touchpoint", 3))
REQUEST_TIMEOUT_S = 15.0
# How long a client keeps retrying one submit or one touchpoint.
RETRY_FOR_S = 90.0
RETRY_PAUSE_S = 0.25
# How long every email queued so far may take to go out once a fault is over.
DRAIN_TIMEOUT_S = 120.0
LINK_RE = re.compile(r"/s/([A-Za-z0-9_\-]+)")
# Notes that describe the run rather than a failure start with this.
INFO = "(info) "
FAULTS = ("kill -9 a gunicorn worker", "restart PostgreSQL", "SMTP down", "kill -9 a mail worker")
FAULT_NAMES = dict(zip(("web", "postgres", "smtp", "mail-worker"), FAULTS, strict=True))


class Timeout(BaseException):
    """The whole run took longer than its hard limit (a BaseException, so that no
    `except Exception` on the way swallows it)."""


# -- clients (spawned processes) ---------------------------------------------------------


@dataclasses.dataclass
class ClientLog:
    # (route, started, ended, status): status 0 is no answer (connection error, timeout).
    requests: list[tuple[str, float, float, int]]
    # token -> (first POST started, outcome): "accepted" (303), "stored earlier" (409
    # after a try whose answer was lost), or what went wrong.
    submits: dict[str, tuple[float, str]]
    # event_id -> (first POST started, invitation id or None, outcome)
    touchpoints: dict[str, tuple[float, int | None, str]]


def client_process(
    base_url: str,
    tokens: list[str],
    api_key: str,
    per_second: float,
    seed_value: int,
    stop: Any,
    results: Any,
) -> None:
    """Customers and touchpoints, `per_second` actions a second, until `stop` is set;
    each action is retried until it has a definite answer."""
    rng = random.Random(seed_value)
    kinds = [kind for kind, weight in MIX for _ in range(weight)]
    log = ClientLog([], {}, {})
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {api_key}"

    def attempt(route: str, call: Any, url: str, **options: Any) -> requests.Response | None:
        started = time.time()
        try:
            response = call(url, timeout=REQUEST_TIMEOUT_S, allow_redirects=False, **options)
        except requests.RequestException:
            log.requests.append((route, started, time.time(), 0))
            return None
        log.requests.append((route, started, time.time(), response.status_code))
        return response

    def customer(token: str) -> None:
        browser = requests.Session()
        url = f"{base_url}/s/{token}"
        data = {"rating": str(rng.randint(1, 5)), "comment": rng.choice(COMMENTS)}
        csrf: str | None = None
        first_post: float | None = None
        uncertain = False  # a try whose answer never came (it may be stored)
        outcome = "no answer in time"
        deadline = time.time() + RETRY_FOR_S
        while time.time() < deadline:
            if csrf is None:
                form = attempt("GET /s/<token>", browser.get, url)
                if form is None or form.status_code == 503:
                    time.sleep(RETRY_PAUSE_S)
                    continue
                csrf = csrf_token_from(form.text) if form.status_code == 200 else None
                if csrf is None:
                    outcome = f"form answered {form.status_code}"
                    break
                continue
            first_post = first_post or time.time()
            answer = attempt(
                "POST /s/<token>", browser.post, url, data={**data, "csrf_token": csrf}
            )
            if answer is None or answer.status_code == 503:
                uncertain = True
                time.sleep(RETRY_PAUSE_S)
                continue
            if answer.status_code == 303:
                outcome = "accepted"
            elif answer.status_code == 409 and uncertain:
                outcome = "stored earlier"
            else:
                outcome = f"submit answered {answer.status_code}"
            break
        log.submits[token] = (first_post or time.time(), outcome)

    def touchpoint() -> None:
        event_id = f"fault-{uuid.uuid4().hex}"
        event = {
            "contact": {"email": f"fault-{uuid.uuid4().hex[:12]}@example.com"},
            "stage": "retention",
            "touchpoint": "support-ticket-solved",
            "event_id": event_id,
        }
        started = time.time()
        outcome, invitation_id = "no answer in time", None
        while time.time() < started + RETRY_FOR_S:
            answer = attempt(
                "POST /api/v1/touchpoints", api.post, f"{base_url}/api/v1/touchpoints", json=event
            )
            if answer is None or answer.status_code == 503:
                time.sleep(RETRY_PAUSE_S)
                continue
            if answer.status_code in (200, 201):
                outcome, invitation_id = "recorded", int(answer.json()["invitation"]["id"])
            else:
                outcome = f"answered {answer.status_code}"
            break
        log.touchpoints[event_id] = (started, invitation_id, outcome)

    try:
        pause = 1.0 / per_second
        while not stop.is_set():
            began = time.monotonic()
            if rng.choice(kinds) == "customer" and tokens:
                customer(tokens.pop())
            else:
                touchpoint()
            stop.wait(max(0.0, pause - (time.monotonic() - began)))
        # A plain dict: the parent may not know this module under the same name.
        results.put(dataclasses.asdict(log))
    except BaseException as error:  # report it: never leave the parent waiting
        results.put(f"client {seed_value}: {error!r}")
        raise


# -- the SMTP server ---------------------------------------------------------------------


@dataclasses.dataclass
class Received:
    at: float
    token_hash: str | None  # of the survey link in it; None for other emails


class MailKiller:
    """The SMTP handler: keeps what arrives and, when armed, kills the mail worker
    sending a message mid-batch (before answering it, so the worker never learns
    the message arrived)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.armed_at: float | None = None
        self.candidates: list[int] = []
        self.killed: tuple[int, float] | None = None  # (pid, when)
        self.killed_event = threading.Event()
        self._per_connection: dict[int, int] = {}

    def arm(self, worker_pids: list[int]) -> None:
        with self.lock:
            self.candidates = list(worker_pids)
            self.killed = None
            self.killed_event.clear()
            self.armed_at = time.monotonic()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        found = LINK_RE.search(text)
        token_hash = hashlib.sha256(found.group(1).encode()).hexdigest() if found else None
        with self.lock:
            self.received.append(Received(time.time(), token_hash))
            before = self._per_connection.get(id(session), 0)
            self._per_connection[id(session)] = before + 1
            armed_for = None if self.armed_at is None else time.monotonic() - self.armed_at
        # Mid-batch: this connection has delivered a message already (or, if the
        # batches are too small for that, any message after a while).
        if armed_for is not None and (before >= 1 or armed_for > 5.0):
            try:
                pid = pid_of_peer(session.peer, server_port(server), self.candidates)
            except (OSError, ValueError, IndexError):
                pid = None
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
                with self.lock:
                    self.armed_at = None
                    self.killed = (pid, time.time())
                self.killed_event.set()
        return "250 Message accepted for delivery"

    def arrivals(self) -> dict[str, list[float]]:
        with self.lock:
            found: dict[str, list[float]] = {}
            for item in self.received:
                if item.token_hash is not None:
                    found.setdefault(item.token_hash, []).append(item.at)
            return found


def server_port(server: Any) -> int:
    return int(server.transport.get_extra_info("sockname")[1])


def loopback_connections(*, local_port: int, remote_port: int | None = None) -> set[str]:
    """Socket inodes of established loopback TCP connections from `local_port`
    (to `remote_port`, if given), read from /proc/net/tcp."""
    local = f"0100007F:{local_port:04X}"
    remote = None if remote_port is None else f"0100007F:{remote_port:04X}"
    found = set()
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            established = fields[3] == "01"
            if established and fields[1] == local and remote in (None, fields[2]):
                found.add(fields[9])
    return found


def holder_of(inodes: set[str], pids: list[int]) -> int | None:
    """The first of `pids` with one of these sockets open."""
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                        return pid
    return None


def pid_of_peer(peer: tuple[str, int], smtp_port: int, pids: list[int]) -> int | None:
    """Which of `pids` holds the TCP connection from `peer` to our SMTP port."""
    return holder_of(loopback_connections(local_port=peer[1], remote_port=smtp_port), pids)


def busy_web_worker(
    master_pid: int, web_port: int, engine: Any, pg_port: int, within: float
) -> tuple[int | None, str]:
    """A gunicorn worker in the middle of a request, waiting up to `within` seconds
    for one; else any worker. Returns (pid or None, what it was doing).

    Best, one inside a database transaction (the app holds one per request, so a
    submit may be written but not yet answered); else one holding a client's
    connection (a sync worker holds it only while it answers)."""
    import sqlalchemy as sa

    in_transaction = sa.text(
        "SELECT client_port FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND client_port IS NOT NULL "
        "AND state IN ('active', 'idle in transaction')"
    )
    deadline = time.monotonic() + within
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            workers = children_of(master_pid)
            ports = conn.execute(in_transaction).scalars().all()
            conn.rollback()
            for port in ports:
                inodes = loopback_connections(local_port=port, remote_port=pg_port)
                busy = holder_of(inodes, workers)
                if busy is not None:
                    return busy, "in a database transaction"
            busy = holder_of(loopback_connections(local_port=web_port), workers)
            if busy is not None:
                return busy, "answering a request"
            time.sleep(0.002)
    workers = children_of(master_pid)
    return (workers[0] if workers else None), "idle"


class SmtpServer:
    """aiosmtpd on a fixed loopback port, to stop and start again on it."""

    def __init__(self, handler: MailKiller) -> None:
        self.handler = handler
        self.port = free_port()
        self.controller: Any = None

    @property
    def url(self) -> str:
        return f"smtp://{HOST}:{self.port}"

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self.controller = Controller(self.handler, hostname=HOST, port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


# -- the service's processes -------------------------------------------------------------


class MailWorkers:
    """`flask --app wsgi feedback worker` processes, as the Procfile runs them."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = {**os.environ, **env}
        self.log = log
        self.processes: list[subprocess.Popen[bytes]] = []

    def start_one(self) -> subprocess.Popen[bytes]:
        flask = Path(sys.executable).with_name("flask")
        launcher = [str(flask)] if flask.exists() else [sys.executable, "-m", "flask"]
        with self.log.open("ab") as log_file:
            process = subprocess.Popen(
                [*launcher, "--app", "wsgi", "feedback", "worker"],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=log_file,
                stderr=log_file,
            )
        self.processes.append(process)
        return process

    def live_pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.poll() is None]

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def children_of(pid: int) -> list[int]:
    """Process ids whose parent is `pid` (from /proc)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            fields = Path(entry.path, "stat").read_text().rpartition(")")[2].split()
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def engine_for(url: str) -> Any:
    import sqlalchemy as sa

    return sa.create_engine(
        url.replace("postgresql://", "postgresql+psycopg://", 1),
        pool_pre_ping=True,
        connect_args={"connect_timeout": 3},
    )


def utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def epoch(moment: dt.datetime) -> float:
    """Seconds since the epoch of a database timestamp (aware; naive ones are UTC)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


def emails_waiting(engine: Any, before: float) -> int | None:
    """Emails queued before `before` that have not gone out (None: the database is down)."""
    import sqlalchemy as sa

    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    sa.text(
                        "SELECT count(*) FROM outbox_message WHERE kind = 'email' "
                        "AND status IN ('pending', 'sending') AND created_at < :before"
                    ),
                    {"before": utc(before)},
                ).scalar_one()
            )
    except sa.exc.OperationalError:
        return None


def wait_for_drain(engine: Any, before: float, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if emails_waiting(engine, before) == 0:
            return True
        time.sleep(0.5)
    return False


# -- one run -----------------------------------------------------------------------------


@dataclasses.dataclass
class Phase:
    fault: str
    started: float  # the phase's window: [started, ended)
    injected: float = 0.0
    ended: float = 0.0
    note: str = ""


@dataclasses.dataclass
class FaultFigures:
    fault: str
    missing_submits: int
    stored_twice: int
    never_emailed: int
    emailed_twice: int
    duplicate_bound: int
    other_5xx: int
    answered_again_s: float
    connection_errors: int
    answered_503: int
    requests: int
    submits_accepted: int
    invitations: int
    slowest_email_s: float
    unexpected: list[str]
    note: str

    def failures(self) -> list[str]:
        problems = [
            f"{label}: {value}"
            for label, value in (
                ("accepted submits missing", self.missing_submits),
                ("responses stored twice", self.stored_twice),
                ("invitations never emailed", self.never_emailed),
                ("5xx other than 503", self.other_5xx),
            )
            if value
        ]
        if self.emailed_twice > self.duplicate_bound:
            problems.append(f"emailed twice: {self.emailed_twice} > {self.duplicate_bound}")
        problems.extend(self.unexpected)
        return problems


def run_faults(
    args: argparse.Namespace, work: Path, stack: contextlib.ExitStack
) -> tuple[list[Phase], list[ClientLog], Any, MailKiller]:
    """Set everything up, run the four faults under load; the phases, logs and stores."""
    from tests.pg_cluster import PrivateCluster

    cluster = PrivateCluster()
    stack.callback(cluster.remove)
    cluster.start()
    url = cluster.create_database("feedback_faults")
    print(f"PostgreSQL cluster of its own on {HOST}:{cluster.port}; seeding {args.links} links")
    tokens, api_key = seed(url, args.links)

    handler = MailKiller()
    smtp = SmtpServer(handler)
    smtp.start()
    stack.callback(smtp.stop)
    env = {
        "FEEDBACK_ENV": "production",
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": url,
        "API_RATE_LIMIT": "1000000/minute",
        "SMTP_URL": smtp.url,
        "OUTBOX_LEASE_SECONDS": str(LEASE_SECONDS),
        "OUTBOX_RETRY_BASE_SECONDS": str(RETRY_BASE_SECONDS),
    }
    server = stack.enter_context(gunicorn("wsgi:app", env, WEB_WORKERS, work / "gunicorn.log"))
    workers = MailWorkers({**env, "BASE_URL": server.base_url}, work / "worker.log")
    stack.callback(workers.stop_all)
    for _ in range(MAIL_WORKERS):
        workers.start_one()
    engine = engine_for(url)
    stack.callback(engine.dispose)

    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    results = context.Queue()
    shares = [tokens[n :: args.clients] for n in range(args.clients)]
    clients = [
        context.Process(
            target=client_process,
            args=(server.base_url, shares[n], api_key, args.rate, n, stop, results),
            daemon=True,
        )
        for n in range(args.clients)
    ]
    for client in clients:
        client.start()

    def end_clients() -> None:
        stop.set()
        for client in clients:
            client.join(timeout=5)
            if client.is_alive():
                client.kill()

    stack.callback(end_clients)
    print(
        f"gunicorn --workers {WEB_WORKERS}, {MAIL_WORKERS} mail workers, {args.clients} clients "
        f"at {args.rate:g} actions/s each; {args.seconds_per_fault:g} s of load before and "
        "after each fault"
    )
    phases: list[Phase] = []
    started = time.time()
    for fault in args.faults:
        phase = Phase(fault, started)
        phases.append(phase)
        time.sleep(args.seconds_per_fault)
        # The previous fault's emails all out first: its duplicates are its own.
        if not wait_for_drain(engine, phase.started, DRAIN_TIMEOUT_S):
            phase.note = "emails from before still waiting at the fault; "
        print(f"-- {fault}", flush=True)
        phase.injected = time.time()
        phase.note += inject(
            fault, phase, args, server.pid, server.base_url, engine, cluster, smtp, handler, workers
        )
        time.sleep(args.seconds_per_fault)
        phase.ended = started = time.time()
    drained = wait_for_drain(engine, phases[-1].ended, DRAIN_TIMEOUT_S)
    if not drained:
        phases[-1].note += "emails still waiting at the end; "
    stop.set()
    logs: list[ClientLog] = []
    fatal: list[str] = []
    deadline = time.monotonic() + RETRY_FOR_S + REQUEST_TIMEOUT_S + 30
    while len(logs) + len(fatal) < len(clients) and time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            item = results.get(timeout=1)
            if isinstance(item, dict):
                logs.append(ClientLog(**item))
            else:
                fatal.append(str(item))
    if fatal or len(logs) < len(clients):
        raise RuntimeError(f"clients failed: {fatal or 'no report in time'}")
    return phases, logs, engine, handler


def inject(
    fault: str,
    phase: Phase,
    args: argparse.Namespace,
    gunicorn_pid: int,
    base_url: str,
    engine: Any,
    cluster: Any,
    smtp: SmtpServer,
    handler: MailKiller,
    workers: MailWorkers,
) -> str:
    """Do the fault (and undo it, where something must), with `phase.injected` the
    moment it struck; a note when it could not be done as meant."""
    if fault == FAULTS[0]:
        port = int(base_url.rsplit(":", 1)[1])
        victim, doing = busy_web_worker(gunicorn_pid, port, engine, cluster.port, within=5.0)
        if victim is None:
            return "no gunicorn worker found; "
        os.kill(victim, signal.SIGKILL)
        phase.injected = time.time()
        print(f"   killed gunicorn worker {victim}, {doing}", flush=True)
        return "" if doing != "idle" else INFO + "the killed gunicorn worker was idle; "
    if fault == FAULTS[1]:
        cluster.stop()
        cluster.start()
        return ""
    if fault == FAULTS[2]:
        smtp.stop()
        time.sleep(args.smtp_down_seconds)
        smtp.start()
        return ""
    handler.arm(workers.live_pids())
    if not handler.killed_event.wait(timeout=30):
        handler.armed_at = None
        return "no mail worker was sending: nothing killed; "
    killed_pid, phase.injected = handler.killed or (0, phase.injected)
    print(f"   killed mail worker {killed_pid} mid-batch", flush=True)
    for process in workers.processes:
        if process.pid == killed_pid:
            process.wait(timeout=10)
    time.sleep(WORKER_RESTART_SECONDS)
    workers.start_one()
    return ""


# -- figures -----------------------------------------------------------------------------


def figures_for(
    phases: list[Phase], logs: list[ClientLog], engine: Any, handler: MailKiller
) -> list[FaultFigures]:
    """The six figures (and a few more) per fault, from the clients' logs, the
    database and the SMTP server's inbox."""
    import sqlalchemy as sa

    requests_seen = [entry for log in logs for entry in log.requests]
    submits = {token: value for log in logs for token, value in log.submits.items()}
    touchpoints = {event: value for log in logs for event, value in log.touchpoints.items()}
    with engine.connect() as conn:
        responses = dict(
            conn.execute(
                sa.text(
                    "SELECT i.token_hash, count(r.id) FROM invitation i "
                    "JOIN response r ON r.invitation_id = i.id GROUP BY i.token_hash"
                )
            ).all()
        )
        invitations = conn.execute(
            sa.text(
                "SELECT id, token_hash, created_at, event_id FROM invitation "
                "WHERE event_id LIKE 'fault-%'"
            )
        ).all()
    arrivals = handler.arrivals()
    stored_ids = {row.id for row in invitations}
    figures = []
    for phase in phases:

        def within(moment: float, phase: Phase = phase) -> bool:
            return phase.started <= moment < phase.ended

        window = [r for r in requests_seen if within(r[1])]
        failed = [r for r in window if r[3] == 0 or r[3] >= 500]
        after_fault = [r for r in failed if r[1] >= phase.injected - 1.0]
        accepted = [
            token
            for token, (first, outcome) in submits.items()
            if within(first) and outcome in ("accepted", "stored earlier")
        ]
        hashes = [hashlib.sha256(token.encode()).hexdigest() for token in accepted]
        unexpected = sorted(
            {
                f"{outcome} ({token[:6]}...)"
                for token, (first, outcome) in submits.items()
                if within(first) and outcome not in ("accepted", "stored earlier")
            }
            | {
                f"touchpoint {outcome}"
                for first, invitation_id, outcome in touchpoints.values()
                if within(first) and (outcome != "recorded" or invitation_id not in stored_ids)
            }
        )
        created = [row for row in invitations if within(epoch(row.created_at))]
        delays = [
            arrivals[row.token_hash][0] - epoch(row.created_at)
            for row in created
            if row.token_hash in arrivals
        ]
        figures.append(
            FaultFigures(
                fault=phase.fault,
                missing_submits=sum(1 for h in hashes if responses.get(h, 0) == 0),
                stored_twice=sum(1 for h in hashes if responses.get(h, 0) > 1),
                never_emailed=sum(1 for row in created if row.token_hash not in arrivals),
                emailed_twice=sum(
                    1 for row in created if len(arrivals.get(row.token_hash, [])) > 1
                ),
                duplicate_bound=DUPLICATE_BOUND,
                other_5xx=sum(1 for r in window if r[3] >= 500 and r[3] != 503),
                answered_again_s=max((r[2] for r in after_fault), default=phase.injected)
                - phase.injected,
                connection_errors=sum(1 for r in window if r[3] == 0),
                answered_503=sum(1 for r in window if r[3] == 503),
                requests=len(window),
                submits_accepted=len(accepted),
                invitations=len(created),
                slowest_email_s=max(delays, default=0.0),
                unexpected=unexpected,
                note=phase.note.strip("; "),
            )
        )
    return figures


def table(figures: list[FaultFigures]) -> str:
    """One row per fault: the six figures, then what the clients saw and did."""
    heads = (
        ("", "fault", 26),
        ("accepted", "missing", 8),
        ("stored", "twice", 6),
        ("email", "missing", 7),
        ("emailed", "twice", 11),
        ("5xx", "not 503", 7),
        ("answered", "again s", 8),
        ("| conn", "errors", 7),
        ("", "503s", 5),
        ("submits", "accepted", 8),
        ("", "invites", 7),
        ("slowest", "email s", 7),
    )
    lines = [
        " ".join(f"{top:<{w}}" if n == 0 else f"{top:>{w}}" for n, (top, _, w) in enumerate(heads)),
        " ".join(f"{low:<{w}}" if n == 0 else f"{low:>{w}}" for n, (_, low, w) in enumerate(heads)),
    ]
    for f in figures:
        cells = (
            f.fault,
            f.missing_submits,
            f.stored_twice,
            f.never_emailed,
            f"{f.emailed_twice} (<={f.duplicate_bound})",
            f.other_5xx,
            f"{f.answered_again_s:.1f}",
            f.connection_errors,
            f.answered_503,
            f.submits_accepted,
            f.invitations,
            f"{f.slowest_email_s:.1f}",
        )
        lines.append(
            " ".join(
                f"{cell:<{w}}" if n == 0 else f"{cell!s:>{w}}"
                for n, (cell, (_, _, w)) in enumerate(zip(cells, heads, strict=True))
            )
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--seconds-per-fault", type=float, help="steady load before and after each fault (15)"
    )
    parser.add_argument("--smtp-down-seconds", type=float, help="how long SMTP is down (20)")
    parser.add_argument("--clients", type=int, help="client processes (4)")
    parser.add_argument("--rate", type=float, default=6.0, help="actions a second per client")
    parser.add_argument(
        "--short", action="store_true", help="the CI version: small numbers, under 2 minutes"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(FAULT_NAMES),
        help="run only this fault (repeatable, in the order given), e.g. to reproduce one",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    args.faults = [FAULT_NAMES[name] for name in args.only] if args.only else list(FAULTS)
    short = {"seconds_per_fault": 3.0, "smtp_down_seconds": 5.0, "clients": 2}
    full = {"seconds_per_fault": 15.0, "smtp_down_seconds": 20.0, "clients": 4}
    for name, value in (short if args.short else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    # Every customer uses up a link: enough for the whole run, with room to spare.
    seconds = 8 * args.seconds_per_fault + args.smtp_down_seconds + 60
    args.links = int(args.clients * args.rate * seconds * 0.7) + 100
    # The hard limit: setup, the load, the faults, the drains, with room for a slow machine.
    args.time_limit = 180 + seconds + 2 * LEASE_SECONDS + DRAIN_TIMEOUT_S
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from tests.pg_cluster import postgres_binaries_missing

    missing = postgres_binaries_missing()
    if missing:
        print(f"cannot run: {missing}", file=sys.stderr)
        return 2

    def out_of_time(_signum: int, _frame: Any) -> None:
        raise Timeout(f"the run passed its limit of {args.time_limit:.0f} s")

    def terminated(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGALRM, out_of_time)
    signal.signal(signal.SIGTERM, terminated)
    signal.alarm(int(args.time_limit))
    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="feedback-faults-"))
    try:
        with contextlib.ExitStack() as stack:
            try:
                phases, logs, engine, handler = run_faults(args, work, stack)
                figures = figures_for(phases, logs, engine, handler)
            except BaseException:
                for name in ("gunicorn.log", "worker.log"):
                    print(f"--- last lines of {name}:\n{tail(work / name)}", file=sys.stderr)
                raise
    except Timeout as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: everything it started is stopped", file=sys.stderr)
        return 130
    finally:
        signal.alarm(0)
    print()
    print(table(figures))
    problems = [f"{f.fault}: {problem}" for f in figures for problem in f.failures()]
    notes = [f"{f.fault}: {f.note}" for f in figures if f.note]
    for note in notes:
        print(f"note: {note}")
    problems.extend(note for note in notes if INFO not in note)
    print(f"\nwhole run: {time.monotonic() - began:.0f} s")
    for problem in problems:
        print(f"CHECK FAILED: {problem}")
    if problems:
        print(f"the servers' logs are kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    if not problems:
        print(
            "check: no accepted submit lost or stored twice, every invitation emailed, "
            f"duplicates within one batch per mail worker ({DUPLICATE_BOUND}), no 5xx but 503"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "faults": [dataclasses.asdict(f) for f in figures],
                    "problems": problems,
                    "seconds_per_fault": args.seconds_per_fault,
                    "smtp_down_seconds": args.smtp_down_seconds,
                },
                indent=2,
            )
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
