"""Load test of the real mix: customers answering, systems reporting touchpoints,
owners reading the journey, all at once against PostgreSQL.

    .venv/bin/python bench/load.py                      # 60 s, 8 clients, gunicorn --workers 4
    .venv/bin/python bench/load.py --seconds 20 --clients 4 \\
        --postgres-url postgresql://postgres@127.0.0.1:5432/postgres --json load.json

It creates a fresh database on the PostgreSQL server (dropped afterwards),
migrates it, seeds a workspace with an owner, an API key and enough sent
survey links, and serves the app with `gunicorn --workers N wsgi:app`
(production settings). Each client process then repeats, until the time is
up, one of:

- a customer (weight 5): `GET /s/<token>` (the form), then `POST` the answer
  (rating, a comment, sometimes "you may quote me") and expects 303;
- a touchpoint (weight 3): `POST /api/v1/touchpoints` with a new `event_id`,
  expects 201;
- an owner (weight 2): `GET /dashboard` or `GET /stages/retention` with the
  owner's session (one login, shared by the clients), expects 200.

The API's per-key limit is raised for the run (`API_RATE_LIMIT`), since one
key stands for every shop system here. Printed: requests per second and
p50/p95/p99 latency per route, every unexpected answer, and afterwards the
check that every accepted submit (a 303) is stored exactly once, that no
answer is stored that was not accepted, and that every 201 touchpoint made
one invitation. The exit code is non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import hashlib
import json
import multiprocessing
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import requests

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from submit import (  # noqa: E402  (needs BENCH_DIR on sys.path)
    DEFAULT_POSTGRES_URL,
    csrf_token_from,
    fresh_postgres_database,
    gunicorn,
    load_average,
    percentile,
    postgres_answers,
    seed_app_database,
)

OWNER_EMAIL = "owner@load.example"
OWNER_PASSWORD = "load-owner-password"
# (kind, weight)
MIX = (("customer", 5), ("touchpoint", 3), ("owner", 2))
COMMENTS = (
    "Quick delivery and the plant was in perfect shape.",
    "Nobody answered my emails and the pot arrived cracked.",
    "Fine, nothing special.",
    "Lovely packaging, the care card helped a lot!",
    "Slow to ship and the tracking link never worked.",
)
TIMEOUT_S = 30.0


@dataclasses.dataclass
class ClientResult:
    latencies: dict[str, list[float]]
    errors: list[str]
    accepted_tokens: list[str]
    touchpoints_created: int


def client_process(
    base_url: str,
    tokens: list[str],
    owner_cookies: dict[str, str],
    api_key: str,
    seconds: float,
    seed: int,
) -> ClientResult:
    """One client: the weighted mix until `seconds` are up (or its survey links run out)."""
    rng = random.Random(seed)
    kinds = [kind for kind, weight in MIX for _ in range(weight)]
    latencies: dict[str, list[float]] = {}
    errors: list[str] = []
    accepted: list[str] = []
    created = 0
    owner = requests.Session()
    owner.cookies.update(owner_cookies)
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {api_key}"
    deadline = time.monotonic() + seconds

    def timed(route: str, call: Any, url: str, **options: Any) -> requests.Response | None:
        start = time.perf_counter()
        try:
            response = call(url, timeout=TIMEOUT_S, allow_redirects=False, **options)
        except requests.RequestException as error:
            errors.append(f"{route}: {type(error).__name__}")
            return None
        latencies.setdefault(route, []).append((time.perf_counter() - start) * 1000)
        return response

    while time.monotonic() < deadline:
        kind = rng.choice(kinds)
        if kind == "customer" and tokens:
            token = tokens.pop()
            customer = requests.Session()
            url = f"{base_url}/s/{token}"
            form = timed("GET /s/<token>", customer.get, url)
            csrf = csrf_token_from(form.text) if form is not None else None
            if form is None or form.status_code != 200 or csrf is None:
                errors.append(f"GET /s/<token>: {getattr(form, 'status_code', None)}")
                continue
            data = {"csrf_token": csrf, "rating": str(rng.randint(1, 5))}
            data["comment"] = rng.choice(COMMENTS)
            if rng.random() < 0.25:
                data |= {"testimonial_opt_in": "y", "display_name": "Sam"}
            answer = timed("POST /s/<token>", customer.post, url, data=data)
            if answer is not None and answer.status_code == 303:
                accepted.append(token)
            elif answer is not None:
                errors.append(f"POST /s/<token>: {answer.status_code}")
        elif kind == "touchpoint":
            event = {
                "contact": {"email": f"load-{uuid.uuid4().hex[:12]}@example.com"},
                "stage": "retention",
                "touchpoint": "support-ticket-solved",
                "event_id": f"load-{uuid.uuid4().hex}",
            }
            answer = timed(
                "POST /api/v1/touchpoints", api.post, f"{base_url}/api/v1/touchpoints", json=event
            )
            if answer is not None and answer.status_code == 201:
                created += 1
            elif answer is not None:
                errors.append(f"POST /api/v1/touchpoints: {answer.status_code}")
        else:
            path = rng.choice(("/dashboard", "/stages/retention"))
            page = timed(f"GET {path}", owner.get, base_url + path)
            if page is not None and page.status_code != 200:
                errors.append(f"GET {path}: {page.status_code}")
    return ClientResult(latencies, errors, accepted, created)


def seed(url: str, links: int) -> tuple[list[str], str]:
    """The survey links' raw tokens and an API key, in the workspace `seed_app_database` made."""
    from sqlalchemy import select

    from feedback import create_app
    from feedback.accounts.models import Workspace
    from feedback.accounts.services import create_api_key, make_owner_of
    from feedback.config import config_for_tests
    from feedback.db import utcnow
    from feedback.extensions import db

    tokens, _seconds = seed_app_database(url, links)
    app = create_app(config_for_tests(url))
    with app.app_context():
        workspace = db.session.scalars(select(Workspace)).one()
        make_owner_of(db.session, workspace, OWNER_EMAIL, OWNER_PASSWORD)
        secret = create_api_key(db.session, workspace, "load test", utcnow()).secret
        db.session.commit()
        db.session.execute(db.text("ANALYZE"))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return tokens, secret


def log_in(base_url: str) -> dict[str, str]:
    browser = requests.Session()
    token = csrf_token_from(browser.get(f"{base_url}/login", timeout=TIMEOUT_S).text)
    answer = browser.post(
        f"{base_url}/login",
        data={"email": OWNER_EMAIL, "password": OWNER_PASSWORD, "csrf_token": token or ""},
        timeout=TIMEOUT_S,
        allow_redirects=False,
    )
    if answer.status_code != 302:
        raise RuntimeError(f"the owner could not log in: {answer.status_code}")
    return dict(browser.cookies)


def check_stored(url: str, accepted: list[str], touchpoints: int) -> list[str]:
    """Every accepted submit stored exactly once, nothing else stored; one invitation per 201."""
    import sqlalchemy as sa

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    hashes = [hashlib.sha256(token.encode()).hexdigest() for token in accepted]
    problems = []
    with engine.connect() as conn:
        per_link = dict(
            conn.execute(
                sa.text(
                    "SELECT i.token_hash, count(r.id) FROM invitation i "
                    "LEFT JOIN response r ON r.invitation_id = i.id "
                    "WHERE i.token_hash = ANY(:hashes) GROUP BY i.token_hash"
                ),
                {"hashes": hashes},
            ).all()
        )
        responses = conn.execute(sa.text("SELECT count(*) FROM response")).scalar_one()
        api_invitations = conn.execute(
            sa.text("SELECT count(*) FROM invitation WHERE event_id LIKE 'load-%'")
        ).scalar_one()
    engine.dispose()
    missing = sum(1 for h in hashes if per_link.get(h, 0) == 0)
    doubled = sum(1 for h in hashes if per_link.get(h, 0) > 1)
    if missing:
        problems.append(f"{missing} accepted submits are not stored")
    if doubled:
        problems.append(f"{doubled} accepted submits are stored more than once")
    if responses != len(accepted):
        problems.append(f"{responses} responses stored for {len(accepted)} accepted submits")
    if api_invitations != touchpoints:
        problems.append(f"{api_invitations} invitations for {touchpoints} touchpoints answered 201")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--links", type=int, default=6000, help="survey links seeded")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    version = postgres_answers(args.postgres_url)
    if version is None:
        print(f"PostgreSQL at {args.postgres_url} does not answer", file=sys.stderr)
        return 2
    print(f"PostgreSQL {version}; {args.clients} clients, gunicorn --workers {args.workers}, ")
    print(f"{args.seconds:.0f} s; load average before: {load_average()}")
    with fresh_postgres_database(args.postgres_url) as url, tempfile.TemporaryDirectory() as tmp:
        tokens, api_key = seed(url, args.links)
        env = {
            "FEEDBACK_ENV": "production",
            "SECRET_KEY": "load-test-secret-key-0123456789abcdef",
            "DATABASE_URL": url,
            "API_RATE_LIMIT": "1000000/minute",
        }
        with gunicorn("wsgi:app", env, args.workers, Path(tmp) / "gunicorn.log") as server:
            cookies = log_in(server.base_url)
            shares = [tokens[n :: args.clients] for n in range(args.clients)]
            context = multiprocessing.get_context("spawn")
            started = time.monotonic()
            with concurrent.futures.ProcessPoolExecutor(args.clients, mp_context=context) as pool:
                futures = [
                    pool.submit(
                        client_process,
                        server.base_url,
                        shares[n],
                        cookies,
                        api_key,
                        args.seconds,
                        n,
                    )
                    for n in range(args.clients)
                ]
                results = [future.result() for future in futures]
            elapsed = time.monotonic() - started
        latencies: dict[str, list[float]] = {}
        for result in results:
            for route, values in result.latencies.items():
                latencies.setdefault(route, []).extend(values)
        errors = [error for result in results for error in result.errors]
        accepted = [token for result in results for token in result.accepted_tokens]
        touchpoints = sum(result.touchpoints_created for result in results)
        problems = check_stored(url, accepted, touchpoints)

    total = sum(len(values) for values in latencies.values())
    print(f"\n{total} requests in {elapsed:.1f} s: {total / elapsed:.0f} req/s")
    print(f"{'route':<28} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    figures = {}
    for route in sorted(latencies):
        values = latencies[route]
        row = {
            "requests": len(values),
            "per_second": len(values) / elapsed,
            "p50_ms": percentile(values, 50),
            "p95_ms": percentile(values, 95),
            "p99_ms": percentile(values, 99),
        }
        figures[route] = row
        print(
            f"{route:<28} {row['per_second']:>7.1f} {row['p50_ms']:>8.1f} "
            f"{row['p95_ms']:>8.1f} {row['p99_ms']:>8.1f}"
        )
    print(f"\naccepted submits: {len(accepted)}; touchpoints recorded: {touchpoints}")
    print(f"unexpected answers: {len(errors)}")
    for error in sorted(set(errors))[:20]:
        print(f"  {error} (x{errors.count(error)})")
    for problem in problems:
        print(f"CHECK FAILED: {problem}")
    if not problems:
        print("check: every accepted submit is stored exactly once; one invitation per 201")
    if args.json:
        args.json.write_text(
            json.dumps({"routes": figures, "errors": len(errors), "problems": problems}, indent=2)
        )
    return 1 if problems or errors else 0


if __name__ == "__main__":
    sys.exit(main())
