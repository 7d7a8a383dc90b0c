"""Benchmark: every owner page, API list call and CSV export as responses grow.

Run it directly (the full run, both databases, takes about 30-40 minutes here,
mostly loading and the slow pages at 1,000,000):

    .venv/bin/python bench/pages.py                      # SQLite, then PostgreSQL
    .venv/bin/python bench/pages.py --sqlite-only --sizes 10000,100000
    .venv/bin/python bench/pages.py --postgres-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/pages.py --only responses,export --json bench/results/pages.json

It measures the speed targets of issue 15, each page's p50 against its own
p50 at the smallest size:

- every owner page and API list call: p50 under 100 ms at 1,000,000 responses
  and at most 1.5 times its p50 at 10,000;
- a text search (`q=`): under 100 ms at 1,000,000;
- the testimonial pages, with about 120,000 quotes at 1,000,000: under 100 ms;
- the CSV exports: first byte under 200 ms (their total time and rows/s are
  printed beside it).

For each database (a SQLite file in a temporary directory; a fresh PostgreSQL
database, created on the server given and dropped afterwards, skipped with a
note when the server does not answer) it:

1. builds the schema with the project's migrations, creates the workspace
   "Bench Plants" (default journey) with its owner, and an API key, in-process
   (bench/dashboard.py's `AppDatabase`);
2. for each of `--sizes` (10,000 and 1,000,000 by default), smallest first,
   grows the workspace with the demo's bulk loader (`feedback.demo.fill_workspace`,
   as bench/dashboard.py does), then moderates the new quotes as a busy owner
   would (`curate`): the loader opts in about 12% of answers (some 122,000
   quotes at 1,000,000), all pending; the positive ones are approved (one in
   twenty featured), one in ten of the rest rejected, and the approved ones
   tagged (about one in six "support"), so the testimonial pages and the
   export have something to show. On PostgreSQL it runs `ANALYZE` after both;
3. starts `gunicorn --workers 2 wsgi:app` (sync workers, gunicorn.conf.py's
   settings, FEEDBACK_ENV=production, the API rate limit lifted) and logs in
   as the owner once;
4. times each page of `PAGES`: one probe GET (a page that answers anything but
   200, or nothing within `--timeout`, is shown as "not available" with the
   reason and is below its targets, not an error), `--warmup` untimed GETs,
   then `--requests` GETs shared by `--clients` processes, stopped after
   `--seconds` (so a slow page costs a bounded time; the number timed is in the
   JSON). The deeper responses page is the one reached by following the
   "older" link of `/responses` `--depth` times, read from the HTML, so it works
   with numbered pages and with keys alike;
5. times each export `--export-runs` times (one client, streamed): the time to
   the first byte, to the first data line, and to the end, with the rows/s;
   again stopped after `--seconds` once one download is complete.

Finally a table per database, the sizes side by side with p50/p95 and the
ratio, and the verdicts (PASS or BELOW) per page and target. Being below a
target is reported, not an error; an error (a request failing once a page has
answered, a check after a load) is listed and the run exits non-zero. The load
generator shares the 2 cores with the server.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import html
import json
import re
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

# Only the standard library, requests and the other bench modules (which import
# no more) at the top: the client processes are spawned and import them again.
BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from dashboard import (  # noqa: E402  (needs BENCH_DIR on sys.path)
    APP_SPEC,
    SLUG,
    AppDatabase,
    Fill,
    log_in,
    parse_sizes,
    run_page,
)
from submit import (  # noqa: E402
    DEFAULT_POSTGRES_URL,
    PhaseResult,
    databases,
    gunicorn,
    load_average,
    machine_line,
    percentile,
    start_run,
    tail,
)

DEFAULT_SIZES = (10_000, 1_000_000)
TARGET_P50_MS = 100.0
TARGET_RATIO = 1.5
TARGET_FIRST_BYTE_MS = 200.0
NEXT_LINK_RE = re.compile(r'<a\s+href="([^"]+)"\s+rel="next"|<a\s+rel="next"\s+href="([^"]+)"')


@dataclasses.dataclass(frozen=True)
class Page:
    """One thing timed. `kind`: page, search, testimonials, api or export."""

    name: str
    path: str
    marker: str
    kind: str = "page"


def pages_for(today: dt.date, touchpoint_id: int) -> list[Page]:
    """Every owner list, each filter alone and a combination, the API lists, the exports."""
    since = (today - dt.timedelta(days=90)).isoformat()
    pages = [
        Page("/dashboard", "/dashboard", "Retention"),
        Page("/stages/retention", "/stages/retention", "Retention"),
        Page("/responses", "/responses", "Responses"),
        Page("/responses?stage=retention", "/responses?stage=retention", "Responses"),
        Page(
            "/responses?touchpoint=<support>", f"/responses?touchpoint={touchpoint_id}", "Responses"
        ),
        Page("/responses?label=negative", "/responses?label=negative", "Responses"),
        Page("/responses?rating 1-2", "/responses?rating_min=1&rating_max=2", "Responses"),
        Page("/responses?opted_in=y", "/responses?opted_in=y", "Responses"),
        Page("/responses?mismatch=y", "/responses?mismatch=y", "Responses"),
        Page("/responses?since=<90 days>", f"/responses?since={since}", "Responses"),
        Page("/responses?q=late", "/responses?q=late", "Responses", "search"),
        Page("/responses?q=zzzznotfound", "/responses?q=zzzznotfound", "Responses", "search"),
        # A common word (some 3.7% of comments), and that word with filters that
        # leave few of its matches, or none (no refund is asked for in Awareness).
        Page("/responses?q=refund", "/responses?q=refund", "Responses", "search"),
        Page(
            "/responses?q=refund&rating_min=5",
            "/responses?q=refund&rating_min=5",
            "Responses",
            "search",
        ),
        Page(
            "/responses?q=refund&stage=awareness",
            "/responses?q=refund&stage=awareness",
            "Responses",
            "search",
        ),
        Page(
            "/responses?stage+label+rating+since",
            f"/responses?stage=retention&label=negative&rating_max=2&since={since}",
            "Responses",
        ),
        # The path is read from /responses' HTML when the size is served.
        Page("/responses, older page", "", "Responses"),
    ]
    pages += [
        Page(f"/follow-ups?show={show}", f"/follow-ups?show={show}", "Follow-ups")
        for show in ("open", "overdue", "mine", "resolved", "all")
    ]
    pages += [
        Page(
            f"/testimonials?show={show}&order={order}",
            f"/testimonials?show={show}&order={order}",
            "Testimonials",
            "testimonials",
        )
        for show in ("pending", "approved", "featured", "rejected", "withdrawn", "all")
        for order in ("suggested", "newest")
    ]
    pages += [
        Page(
            "/testimonials?show=approved&tag=support",
            "/testimonials?show=approved&tag=support",
            "Testimonials",
            "testimonials",
        ),
        Page("/api/v1/responses", "/api/v1/responses", '"data"', "api"),
        Page(
            "/api/v1/responses?q=refund&stage=awareness",
            "/api/v1/responses?q=refund&stage=awareness",
            '"data"',
            "api",
        ),
        Page("/api/v1/testimonials", "/api/v1/testimonials", '"data"', "api"),
        Page("/export/responses.csv", "/export/responses.csv", "id,", "export"),
        Page("/export/testimonials.csv", "/export/testimonials.csv", "id,", "export"),
    ]
    return pages


# -- the database ------------------------------------------------------------------------


class PagesDatabase(AppDatabase):
    """bench/dashboard.py's database, with an API key and the quotes moderated."""

    api_secret = ""
    touchpoint_id = 0

    def migrate(self) -> None:
        """Schema, workspace and owner; then an API key and the touchpoint the filter uses."""
        import sqlalchemy as sa

        from feedback.accounts.services import create_api_key, workspace_by_slug
        from feedback.db import utcnow
        from feedback.journey.models import Touchpoint

        super().migrate()
        with self.session() as session:
            workspace = workspace_by_slug(session, SLUG)
            assert workspace is not None
            self.api_secret = create_api_key(session, workspace, "bench", utcnow()).secret
            self.touchpoint_id = session.scalar(
                sa.select(Touchpoint.id).where(
                    Touchpoint.workspace_id == workspace.id,
                    Touchpoint.key == "support-ticket-solved",
                )
            )
            session.commit()

    def curate(self) -> dict[str, int]:
        """Moderate the pending quotes as a busy owner would; the quotes by status and tag.

        Only pending quotes are touched, so growing and curating again leaves
        earlier decisions as they were.
        """
        import sqlalchemy as sa

        from feedback.accounts.services import workspace_by_slug
        from feedback.surveys.models import Response
        from feedback.testimonials.models import Testimonial, TestimonialTag

        t = Testimonial
        with self.session() as session:
            workspace = workspace_by_slug(session, SLUG)
            assert workspace is not None
            ws = workspace.id
            positive = sa.select(Response.id).where(
                Response.workspace_id == ws, Response.sentiment_label == "positive"
            )
            session.execute(
                sa.update(t)
                .where(t.workspace_id == ws, t.status == "pending", t.response_id.in_(positive))
                .values(
                    status=sa.case((t.id % 20 == 0, "featured"), else_="approved"),
                    approved_at=t.consented_at,
                )
            )
            session.execute(
                sa.update(t)
                .where(t.workspace_id == ws, t.status == "pending", t.id % 10 == 3)
                .values(status="rejected")
            )
            for tag, every, rest in (("support", 6, 0), ("delivery", 4, 1), ("plants", 3, 2)):
                untagged = sa.select(t.workspace_id, t.id, sa.literal(tag)).where(
                    t.workspace_id == ws,
                    t.status.in_(("approved", "featured")),
                    t.id % every == rest,
                    ~sa.exists().where(
                        TestimonialTag.testimonial_id == t.id, TestimonialTag.tag == tag
                    ),
                )
                session.execute(
                    sa.insert(TestimonialTag).from_select(
                        ["workspace_id", "testimonial_id", "tag"], untagged
                    )
                )
            session.commit()
            if session.get_bind().dialect.name == "postgresql":
                session.execute(sa.text("ANALYZE testimonial, testimonial_tag"))
                session.commit()
            counts = dict(
                session.execute(
                    sa.select(t.status, sa.func.count())
                    .where(t.workspace_id == ws)
                    .group_by(t.status)
                ).all()
            )
            counts["tagged support"] = session.scalar(
                sa.select(sa.func.count()).where(
                    TestimonialTag.workspace_id == ws, TestimonialTag.tag == "support"
                )
            )
        return counts


# -- timing ------------------------------------------------------------------------------


@dataclasses.dataclass
class ExportResult:
    """Downloads of one export: per download, seconds to first byte, first row and end."""

    first_byte: list[float]
    first_row: list[float]
    total: list[float]
    rows: int  # in the last complete download
    megabytes: float
    errors: list[str]

    @property
    def p50_ms(self) -> float:
        return percentile(self.first_byte, 50) * 1000

    @property
    def p95_ms(self) -> float:
        return percentile(self.first_byte, 95) * 1000

    @property
    def total_s(self) -> float:
        return percentile(self.total, 50)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.total_s if self.total_s else 0.0


def time_export(
    base_url: str, cookies: dict[str, str], path: str, runs: int, budget: float, timeout: float
) -> ExportResult:
    """Download the export `runs` times (stopping after `budget` s once one is complete)."""
    result = ExportResult([], [], [], 0, 0.0, [])
    started = time.monotonic()
    with requests.Session() as session:
        session.cookies.update(cookies)
        for _ in range(runs):
            if result.total and time.monotonic() - started > budget:
                break
            t0 = time.perf_counter()
            first_byte = first_row = None
            lines = size = 0
            try:
                with session.get(
                    base_url + path, stream=True, timeout=timeout, allow_redirects=False
                ) as response:
                    if response.status_code != 200:
                        result.errors.append(f"GET {path} -> {response.status_code}")
                        continue
                    for piece in response.iter_content(chunk_size=None):
                        now = time.perf_counter() - t0
                        if first_byte is None:
                            first_byte = now
                        lines += piece.count(b"\n")
                        size += len(piece)
                        if first_row is None and lines >= 2:
                            first_row = now
            except requests.RequestException as error:
                result.errors.append(f"GET {path}: {error!r}")
                continue
            result.total.append(time.perf_counter() - t0)
            result.first_byte.append(first_byte or 0.0)
            if first_row is not None:
                result.first_row.append(first_row)
            result.rows = max(0, lines - 1)
            result.megabytes = size / 1e6
    return result


def deeper_path(
    base_url: str, cookies: dict[str, str], depth: int, timeout: float
) -> tuple[str | None, int]:
    """The responses page reached by following "older" `depth` times; how many were followed."""
    path, followed = "/responses", 0
    with requests.Session() as session:
        session.cookies.update(cookies)
        for _ in range(depth):
            page = session.get(base_url + path, timeout=timeout, allow_redirects=False)
            found = NEXT_LINK_RE.search(page.text) if page.status_code == 200 else None
            if found is None:
                break
            path = html.unescape(found.group(1) or found.group(2))
            followed += 1
    return (path if followed else None), followed


@dataclasses.dataclass
class Figures:
    """One page at one size: latencies (ms), or why it was not timed."""

    p50_ms: float | None
    p95_ms: float | None
    requests: int = 0
    errors: int = 0
    unavailable: str | None = None
    export: ExportResult | None = None
    path: str = ""


@dataclasses.dataclass
class SizeRun:
    fill: Fill
    quotes: dict[str, int]
    pages: dict[str, Figures]
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

    def ratio(self, name: str) -> float | None:
        if len(self.sizes) < 2:
            return None
        first = self.sizes[0].pages.get(name)
        last = self.sizes[-1].pages.get(name)
        if not first or not last or not first.p50_ms or last.p50_ms is None:
            return None
        return last.p50_ms / first.p50_ms

    @property
    def error_count(self) -> int:
        return len(self.errors) + sum(f.errors for s in self.sizes for f in s.pages.values())


def serve_size(
    app: PagesDatabase,
    pages: list[Page],
    server_url: str,
    cookies: dict[str, str],
    args: argparse.Namespace,
    errors: list[str],
    size: int,
    server: Any,
) -> dict[str, Figures]:
    """Time every page against the running server."""
    results: dict[str, Figures] = {}
    api = {"Authorization": f"Bearer {app.api_secret}"}
    for page in pages:
        path = page.path
        if page.name == "/responses, older page":
            found, followed = deeper_path(server_url, cookies, args.depth, args.timeout)
            if found is None:
                results[page.name] = Figures(None, None, unavailable="no older link")
                print(f"   {page.name:<44} not available (no older link)", flush=True)
                continue
            path = found
            print(f"   (the older page: {followed} links from /responses, {path})", flush=True)
        if page.kind == "export":
            exported = time_export(
                server_url, cookies, path, args.export_runs, args.seconds, args.timeout
            )
            errors += [f"{size:,} {page.name}: {e}" for e in exported.errors]
            if not exported.total:
                results[page.name] = Figures(None, None, unavailable="no complete download")
                print(f"   {page.name:<44} no complete download", flush=True)
                continue
            first_row = percentile(exported.first_row, 50) * 1000 if exported.first_row else None
            results[page.name] = Figures(
                exported.p50_ms, exported.p95_ms, len(exported.total), 0, export=exported, path=path
            )
            print(
                f"   {page.name:<44} first byte p50 {exported.p50_ms:7.1f} ms, first row "
                f"{first_row if first_row is not None else float('nan'):7.1f} ms, all "
                f"{exported.rows:,} rows ({exported.megabytes:.1f} MB) in {exported.total_s:.1f} s"
                f" = {exported.rows_per_second:,.0f} rows/s ({len(exported.total)} downloads)",
                flush=True,
            )
            continue
        headers = api if page.kind == "api" else None
        try:
            probe = requests.get(
                server_url + path,
                cookies=cookies,
                headers=headers,
                timeout=args.timeout,
                allow_redirects=False,
            )
            why = None if probe.status_code == 200 else f"{probe.status_code} {probe.reason}"
        except requests.RequestException as error:
            why = f"no answer: {type(error).__name__}"
        if why is not None:
            results[page.name] = Figures(None, None, unavailable=why)
            print(f"   {page.name:<44} not available ({why})", flush=True)
            continue
        timing = (page.name, server, cookies, path, page.marker)
        if args.warmup:
            warm = run_page(*timing, args.warmup, args.seconds, 1, args.timeout, headers=headers)
            errors += [f"{size:,} {page.name} warm-up: {e}" for e in warm.error_samples]
        timed: PhaseResult = run_page(
            *timing, args.requests, args.seconds, args.clients, args.timeout, headers=headers
        )
        figures = Figures(
            timed.p50_ms,
            percentile(timed.latencies, 95) * 1000,
            timed.requests,
            timed.errors,
            path=path,
        )
        errors += [f"{size:,} {page.name}: {e}" for e in timed.error_samples]
        results[page.name] = figures
        print(
            f"   {page.name:<44} {timed.requests:>4} GETs  p50 {figures.p50_ms:7.1f} ms"
            f"  p95 {figures.p95_ms:7.1f} ms"
            + (f"  {timed.errors} ERRORS" if timed.errors else ""),
            flush=True,
        )
    return results


def bench_database(
    database: str, label: str, url: str, args: argparse.Namespace, work: Path
) -> DatabaseRun:
    """Grow the workspace through the sizes; serve and time every page at each."""
    print(f"\n== {label}   (load average {load_average()})", flush=True)
    app = PagesDatabase(url)
    app.migrate()
    pages = [p for p in pages_for(dt.date.today(), app.touchpoint_id) if selected(p, args.only)]
    log = work / f"gunicorn-{database}.log"
    env = {
        "FEEDBACK_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": url,
        "FEEDBACK_INSTANCE_PATH": str(work / "instance"),
        # The bench asks for more than an integration's share; the limit is not measured here.
        "API_RATE_LIMIT": "1000000/minute",
    }
    runs: list[SizeRun] = []
    errors: list[str] = []
    for size in args.sizes:
        print(f"   loading up to {size:,} responses ...", flush=True)
        fill = app.grow(size)
        t0 = time.perf_counter()
        quotes = app.curate()
        print(
            f"   {size:>9,} responses: +{fill.added:,} ({fill.rows:,} rows) in "
            f"{fill.insert_seconds:.1f} s, rollups {fill.rollup_seconds:.1f} s, "
            f"commit/ANALYZE {fill.other_seconds:.1f} s; quotes moderated in "
            f"{time.perf_counter() - t0:.1f} s: "
            + ", ".join(f"{count:,} {status}" for status, count in sorted(quotes.items())),
            flush=True,
        )
        errors += [f"{size:,}: {p}" for p in fill.problems]
        t0 = time.monotonic()
        with gunicorn(APP_SPEC, env, args.workers, log) as server:
            cookies = log_in(server.base_url, args.timeout)
            figures = serve_size(app, pages, server.base_url, cookies, args, errors, size, server)
        runs.append(SizeRun(fill, quotes, figures, time.monotonic() - t0))
    app.dispose()
    run = DatabaseRun(database, label, runs, errors)
    if run.error_count:
        print(f"   server log ({log}):\n{tail(log)}", flush=True)
    return run


def selected(page: Page, only: list[str] | None) -> bool:
    return not only or any(part in page.name for part in only)


# -- output ------------------------------------------------------------------------------


def _cell(figures: Figures | None) -> str:
    if figures is None or figures.p50_ms is None:
        why = figures.unavailable if figures else "not run"
        return f"{'n/a (' + (why or '')[:15] + ')':>20}"
    return f"{figures.p50_ms:10.1f}/{figures.p95_ms or 0:<9.1f}"


def table(runs: list[DatabaseRun], pages: list[Page]) -> str:
    """The databases side by side: p50/p95 (ms) at each size, and the ratio largest/smallest."""
    head = f"{'':<44}"
    sub = f"{'page (exports: first byte)':<44}"
    for run in runs:
        name = "SQLite" if run.database == "sqlite" else "PostgreSQL"
        for size_run in run.sizes:
            head += f"{name + ' ' + f'{size_run.size:,}':>21}"
            sub += f"{'p50/p95 ms':>21}"
        head += f"{'ratio':>8}"
        sub += f"{'':>8}"
    lines = [head, sub]
    for page in pages:
        line = f"{page.name[:43]:<44}"
        for run in runs:
            for size_run in run.sizes:
                line += " " + _cell(size_run.pages.get(page.name))
            ratio = run.ratio(page.name)
            line += f"{ratio:>7.2f}x" if ratio is not None else f"{'-':>8}"
        lines.append(line)
    return "\n".join(lines)


def export_lines(runs: list[DatabaseRun], pages: list[Page]) -> list[str]:
    lines = []
    for run in runs:
        for size_run in run.sizes:
            for page in pages:
                figures = size_run.pages.get(page.name)
                if page.kind != "export" or figures is None or figures.export is None:
                    continue
                e = figures.export
                first_row = percentile(e.first_row, 50) * 1000 if e.first_row else float("nan")
                lines.append(
                    f"  {run.database:<10} {size_run.size:>9,}  {page.name:<26} first byte "
                    f"{e.p50_ms:6.1f} ms, first row {first_row:6.1f} ms, total {e.total_s:6.1f} s, "
                    f"{e.rows:,} rows = {e.rows_per_second:,.0f} rows/s"
                )
    return lines


def verdicts(run: DatabaseRun, pages: list[Page]) -> list[str]:
    """One line per page: PASS or BELOW for each of its targets, at the largest size."""
    if not run.sizes:
        return []
    largest, smallest = run.sizes[-1], run.sizes[0]
    lines = []
    for page in pages:
        figures = largest.pages.get(page.name)
        if figures is None:
            continue
        p50 = figures.p50_ms
        parts = []
        if page.kind == "export":
            limit, what = TARGET_FIRST_BYTE_MS, "first byte"
        else:
            limit, what = TARGET_P50_MS, "p50"
        if p50 is None:
            parts.append(f"{what} < {limit:.0f} ms: BELOW ({figures.unavailable})")
        else:
            parts.append(f"{what} {p50:.1f} ms < {limit:.0f}: {'PASS' if p50 < limit else 'BELOW'}")
        if page.kind != "export" and len(run.sizes) > 1:
            ratio = run.ratio(page.name)
            if ratio is None:
                parts.append(f"ratio <= {TARGET_RATIO}: BELOW (no figure at one size)")
            else:
                # Judged as printed: 1.504x reads 1.50x, within 1.5x.
                verdict = "PASS" if round(ratio, 2) <= TARGET_RATIO else "BELOW"
                parts.append(f"{ratio:.2f}x <= {TARGET_RATIO}x: {verdict}")
        lines.append(f"  {run.database:<10} {page.name[:43]:<44} " + "   ".join(parts))
    if len(run.sizes) > 1:
        lines.append(
            f"  ({run.database}: at {largest.size:,}, ratio against {smallest.size:,}; "
            "the targets are stated for 1,000,000 against 10,000)"
        )
    return lines


def as_json(
    runs: list[DatabaseRun],
    pages: list[Page],
    machine: dict[str, Any],
    args: argparse.Namespace,
    notes: list[str],
) -> dict[str, Any]:
    def figures_json(f: Figures | None) -> dict[str, Any] | None:
        if f is None:
            return None
        out: dict[str, Any] = {
            "path": f.path,
            "p50_ms": f.p50_ms,
            "p95_ms": f.p95_ms,
            "requests": f.requests,
            "errors": f.errors,
            "unavailable": f.unavailable,
        }
        if f.export is not None:
            out["export"] = {
                "first_byte_s": f.export.first_byte,
                "first_row_s": f.export.first_row,
                "total_s": f.export.total,
                "rows": f.export.rows,
                "megabytes": f.export.megabytes,
                "rows_per_second": f.export.rows_per_second,
            }
        return out

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
            "export_runs": args.export_runs,
            "depth": args.depth,
        },
        "targets": {
            "p50_ms_below": TARGET_P50_MS,
            "p50_ratio_at_most": TARGET_RATIO,
            "export_first_byte_ms_below": TARGET_FIRST_BYTE_MS,
        },
        "databases": {
            run.database: {
                "label": run.label,
                "sizes": {
                    str(s.size): {
                        "quotes": s.quotes,
                        "load": dataclasses.asdict(s.fill),
                        "pages": {p.name: figures_json(s.pages.get(p.name)) for p in pages},
                    }
                    for s in run.sizes
                },
                "p50_ratio": {p.name: run.ratio(p.name) for p in pages},
                "verdicts": verdicts(run, pages),
                "errors": run.errors,
            }
            for run in runs
        },
        "notes": notes,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=list(DEFAULT_SIZES),
        help="responses to grow to, comma-separated (default 10000,1000000)",
    )
    parser.add_argument(
        "--requests", type=int, default=100, help="timed GETs per page and size (default 100)"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=10.0,
        help="stop timing a page (or an export) after this long (default 10)",
    )
    parser.add_argument("--clients", type=int, default=2, help="client processes (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument(
        "--warmup", type=int, default=3, help="untimed GETs of each page first (default 3)"
    )
    parser.add_argument(
        "--export-runs", type=int, default=3, help="downloads of each export (default 3)"
    )
    parser.add_argument(
        "--depth", type=int, default=10, help='"older" links followed for the deeper page'
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=35.0,
        help="seconds allowed for each request (default 35, past gunicorn's 30)",
    )
    parser.add_argument(
        "--only",
        type=lambda text: [p for p in text.split(",") if p],
        help="pages whose name contains one of these comma-separated texts (e.g. responses,export)",
    )
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help=f"a server where a fresh database may be created (default {DEFAULT_POSTGRES_URL})",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if min(args.requests, args.clients, args.workers, args.export_runs, args.depth) < 1 or (
        args.warmup < 0
    ):
        parser.error("--requests, --clients, --workers, --export-runs, --depth must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    args = parse_args(argv)
    settings = (
        f"sizes {', '.join(f'{s:,}' for s in args.sizes)}; up to {args.requests} GETs per page "
        f"in {args.seconds:.0f} s ({args.warmup} warm-up), {args.clients} clients, "
        f"{args.export_runs} downloads per export, gunicorn {args.workers} sync workers"
    )
    notes, postgres_version, machine = start_run(args.sqlite_only, args.postgres_url, settings)
    runs: list[DatabaseRun] = []
    with tempfile.TemporaryDirectory(prefix="feedback-bench-") as tmp:
        work = Path(tmp)
        for key, label, url in databases(work, args.postgres_url, postgres_version):
            runs.append(bench_database(key, label, url, args, work))
    pages = [p for p in pages_for(dt.date.today(), 0) if selected(p, args.only)]

    print("\n" + "=" * 78)
    print(f"Owner pages benchmark: {settings}")
    print(machine_line(machine))
    print()
    print(table(runs, pages))
    print("\nExports (one client, streamed; p50 of the downloads):")
    for line in export_lines(runs, pages):
        print(line)
    print("\nQuotes at each size (the loader's opt-ins, moderated by `curate`):")
    for run in runs:
        for size_run in run.sizes:
            quotes = ", ".join(f"{n:,} {s}" for s, n in sorted(size_run.quotes.items()))
            print(f"  {run.database:<10} {size_run.size:>9,}  {quotes}")
    print("\nVerdicts (BELOW is reported, not an error):")
    for run in runs:
        for line in verdicts(run, pages):
            print(line)
    for note in notes:
        print(f"NOTE: {note}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(as_json(runs, pages, machine, args, notes), indent=2))
        print(f"Figures written to {args.json}")
    print(f"Run time: {time.monotonic() - started:.0f} s")

    failures = sum(run.error_count for run in runs)
    if failures:
        print(f"\nFAILED: {failures} errors", file=sys.stderr)
        for run in runs:
            for problem in run.errors:
                print(f"  {run.database}: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
