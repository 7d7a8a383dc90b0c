"""Benchmark: the public testimonial wall and embed widget over HTTP with 10,000 testimonials.

    .venv/bin/python bench/wall.py                 # SQLite, then PostgreSQL
    .venv/bin/python bench/wall.py --sqlite-only --requests 200

The target of issue 6: the wall and the widget render in under 50 ms p50 with
10,000 testimonials in the workspace. For each database it builds the schema
and the "Bench Plants" workspace (as bench/dashboard.py does), grows it with
the demo's bulk loader (`feedback.demo.fill_workspace`, which records a consent
for every opted-in answer) until it holds at least `--testimonials` consent
records, then in one UPDATE each sets 80 % of them approved and 1 % featured
(the rest stay pending or are rejected) and tags 30 % with one of eight topics,
starts `gunicorn --workers 2 wsgi:app` and times `--requests` GETs of
`/t/bench-plants`, `/t/bench-plants?tag=support` and `/t/bench-plants/embed`
shared by `--clients` processes, after `--warmup` untimed GETs. No login: these
pages are public.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from pathlib import Path

import requests

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from dashboard import SLUG, AppDatabase, report, run_page  # noqa: E402
from submit import (  # noqa: E402
    DEFAULT_POSTGRES_URL,
    PhaseResult,
    databases,
    gunicorn,
    load_average,
    machine_line,
    start_run,
    tail,
)

APP_SPEC = "wsgi:app"
TARGET_P50_MS = 50.0
GROW_STEP = 20_000
TOPICS = ("delivery", "plants", "support", "price", "packaging", "advice", "returns", "app")
PAGES = (
    ("wall", f"/t/{SLUG}", "What customers say"),
    ("wall?tag", f"/t/{SLUG}?tag=support", "What customers say"),
    ("embed", f"/t/{SLUG}/embed", "A selection of what customers said"),
)


def load(app: AppDatabase, testimonials: int) -> tuple[int, int, int]:
    """Grow the workspace to at least `testimonials` consents; (responses, consents, shown)."""
    import sqlalchemy as sa

    from feedback.accounts.services import workspace_by_slug
    from feedback.db import utcnow
    from feedback.demo import fill_workspace, owner_id_of, response_count
    from feedback.testimonials.models import Testimonial, TestimonialTag

    with app.session() as session:
        workspace = workspace_by_slug(session, SLUG)
        assert workspace is not None

        def consents() -> int:
            return session.scalar(
                sa.select(sa.func.count(Testimonial.id)).where(
                    Testimonial.workspace_id == workspace.id
                )
            )

        while consents() < testimonials:
            fill_workspace(
                session,
                workspace,
                GROW_STEP,
                utcnow(),
                owner_id=owner_id_of(session, workspace),
            )
            session.commit()
        t = Testimonial.__table__
        mine = t.c.workspace_id == workspace.id
        session.execute(
            sa.update(t)
            .where(mine)
            .values(
                status=sa.case(
                    (t.c.id % 100 == 0, "featured"),
                    (t.c.id % 10 < 8, "approved"),
                    (t.c.id % 10 == 8, "rejected"),
                    else_="pending",
                )
            )
        )
        # Three in ten carry one of eight topic tags, as an owner's tagging would.
        tags = TestimonialTag.__table__
        session.execute(sa.delete(tags).where(tags.c.workspace_id == workspace.id))
        topic = sa.case(
            *((t.c.id % len(TOPICS) == index, name) for index, name in enumerate(TOPICS)),
            else_=TOPICS[-1],
        )
        session.execute(
            sa.insert(tags).from_select(
                ["workspace_id", "testimonial_id", "tag"],
                sa.select(t.c.workspace_id, t.c.id, topic).where(mine, t.c.id % 10 < 3),
            )
        )
        session.commit()
        if session.get_bind().dialect.name == "postgresql":
            session.execute(sa.text("ANALYZE"))
            session.commit()
        shown = session.scalar(
            sa.select(sa.func.count(t.c.id)).where(
                mine, t.c.status.in_(("approved", "featured")), t.c.withdrawn_at.is_(None)
            )
        )
        return response_count(session, workspace.id), consents(), shown


def bench_database(label: str, url: str, args: argparse.Namespace, work: Path) -> list[str]:
    """Load, serve and time the two pages; the lines of the summary."""
    print(f"\n== {label}   (load average {load_average()})", flush=True)
    app = AppDatabase(url)
    app.migrate()
    t0 = time.monotonic()
    responses, consents, shown = load(app, args.testimonials)
    app.dispose()
    print(
        f"   {responses:,} responses, {consents:,} testimonials ({shown:,} shown) "
        f"loaded in {time.monotonic() - t0:.1f} s",
        flush=True,
    )
    env = {
        "FEEDBACK_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": url,
        "FEEDBACK_INSTANCE_PATH": str(work / "instance"),
    }
    log = work / f"gunicorn-{label.split()[0]}.log"
    lines = [f"{label}: {consents:,} testimonials, {shown:,} shown, {responses:,} responses"]
    with gunicorn(APP_SPEC, env, args.workers, log) as server:
        for name, path, marker in PAGES:
            probe = requests.get(server.base_url + path, timeout=args.timeout)
            if probe.status_code != 200:
                print(f"   {name}: {probe.status_code}\n{tail(log)}", flush=True)
                lines.append(f"  {name}: ERROR {probe.status_code}")
                continue
            page = (name, server, {}, path, marker)
            if args.warmup:
                run_page(*page, args.warmup, args.seconds, args.clients, args.timeout)
            result: PhaseResult = report(
                run_page(*page, args.requests, args.seconds, args.clients, args.timeout)
            )
            verdict = "PASS" if result.p50_ms < TARGET_P50_MS and not result.errors else "BELOW"
            lines.append(
                f"  {name:<8} p50 {result.p50_ms:6.1f} ms  p99 {result.p99_ms:6.1f} ms  "
                f"{result.per_second:7.1f}/s  {verdict} (target p50 < {TARGET_P50_MS:.0f} ms)"
                + (f"  {result.errors} ERRORS" if result.errors else "")
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--testimonials", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    args = parser.parse_args(argv)
    notes, postgres_version, machine = start_run(
        args.sqlite_only,
        args.postgres_url,
        f"{args.testimonials:,} testimonials, {args.requests} GETs per page "
        f"({args.warmup} warm-up), {args.clients} clients, gunicorn {args.workers} sync workers",
    )
    summary: list[str] = []
    with tempfile.TemporaryDirectory(prefix="feedback-bench-wall-") as tmp:
        work = Path(tmp)
        for _key, label, url in databases(work, args.postgres_url, postgres_version):
            summary += bench_database(label, url, args, work)
    print("\n" + "=" * 78)
    print(machine_line(machine))
    print("\n".join(summary + [f"NOTE: {note}" for note in notes]))
    return 1 if any("ERROR" in line for line in summary) else 0


if __name__ == "__main__":
    sys.exit(main())
