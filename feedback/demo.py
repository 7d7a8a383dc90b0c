"""A demo workspace whose dashboard tells a story (Retention is the weak stage).

Two ways in: `create_demo` answers a few hundred surveys through the services,
as customers would (what `make run` loads); `fill_workspace` bulk-inserts a
year of answers, up to millions, for trying the insights pages at scale.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import functools
import hashlib
import itertools
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, select, text
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from feedback import demo_data, sentiment
from feedback.accounts import services as accounts
from feedback.accounts.models import Membership, Workspace
from feedback.answers import mark_sent, submit_response
from feedback.db import lock_for_writing, workspace_scoped
from feedback.demo_data import generate_demo_responses
from feedback.extensions import db
from feedback.insights.services import rebuild_rollups
from feedback.journey.models import Stage, Touchpoint
from feedback.journey.scales import SCALES, Scale, is_mismatch, is_unhappy
from feedback.surveys import services as surveys
from feedback.surveys.models import Response
from feedback.testimonials import services as moderation
from feedback.testimonials.models import Testimonial

DEMO_WORKSPACE = "Greenleaf Plants"
DEMO_EMAIL = "owner@greenleaf.example"
DEMO_PASSWORD = "greenleaf-demo"
DEMO_COLLEAGUE = "sam@greenleaf.example"


@dataclass(frozen=True)
class DemoResult:
    workspace: Workspace
    created: bool
    responses: int
    invitations: int


def create_demo(
    session: Session, email: str, password: str, count: int, now: dt.datetime, seed: int = 7
) -> DemoResult:
    """The demo workspace with `count` answered invitations and some unanswered ones.

    Does nothing to an existing demo workspace but (re)set the owner's login.
    """
    existing = accounts.workspace_by_slug(session, accounts.slugify(DEMO_WORKSPACE))
    _user, workspace = accounts.create_owner(session, email, password, DEMO_WORKSPACE)
    if existing is not None:
        return DemoResult(workspace, False, 0, 0)
    # A colleague, so the team page and follow-up assignment have someone to show.
    accounts.add_member(session, workspace, DEMO_COLLEAGUE, "member")
    rng = random.Random(seed)
    invitations = 0
    for item in generate_demo_responses(count, seed):
        answered_at = now - dt.timedelta(days=item.days_ago)
        sent_at = answered_at - dt.timedelta(hours=rng.uniform(0.2, 30))
        # About two in five customers never answer, so response rates look real.
        for _ in range(rng.choice((0, 0, 1))):
            unanswered = surveys.invite(
                session,
                workspace,
                stage_key=item.stage,
                touchpoint_key=item.touchpoint,
                email=f"quiet{invitations}@example.net",
                now=sent_at,
                throttle=False,
            )
            mark_sent(session, workspace, unanswered.invitation, sent_at)
            invitations += 1
        issued = surveys.invite(
            session,
            workspace,
            stage_key=item.stage,
            touchpoint_key=item.touchpoint,
            email=item.customer_email,
            name=item.customer_name,
            now=sent_at,
            throttle=False,
        )
        invitations += 1
        mark_sent(session, workspace, issued.invitation, sent_at)
        link = surveys.find_link(session, issued.token)
        surveys.open_link(session, link, answered_at - dt.timedelta(minutes=2))
        submit_response(
            session,
            surveys.find_link(session, issued.token),
            surveys.Answer(
                rating=item.rating,
                comment=item.comment,
                testimonial_opt_in=item.opt_in,
                display_name=item.display_name,
                display_role=(
                    rng.choice(DEMO_ROLES) if item.display_name and rng.random() < 0.2 else None
                ),
                channels=("social",) if rng.random() < 0.35 else (),
            ),
            answered_at,
        )
    curate_demo_testimonials(session, workspace, now)
    return DemoResult(workspace, True, count, invitations)


DEMO_ROLES = (
    "Owner, The Fern Café",
    "Office manager, Brightdesk",
    "Head gardener",
    "Interior designer",
    "Teacher",
)
# Topic tags the demo owner has given, by words in the comment.
DEMO_TAGS = {
    "delivery": ("deliver", "arrived", "courier", "shipping", "dispatch"),
    "packaging": ("packag", "packed", "box"),
    "plant-health": ("healthy", "thriving", "leaves", "roots", "growing"),
    "advice": ("advice", "care guide", "tips", "helpful"),
    "service": ("support", "team", "staff", "friendly"),
}


def curate_demo_testimonials(session: Session, workspace: Workspace, now: dt.datetime) -> None:
    """What an owner would have done with the opt-ins: approve the best, feature three, tag them.

    So the wall, the widget and the reuse tools have something to show. One
    approved quote carries a material-connection disclosure (a gifted plant),
    as a reminder of what that looks like.
    """
    pending = moderation.suggested(session, workspace.id)
    good: list[Testimonial] = []
    seen: set[str] = set()
    for t in pending:
        comment = t.response.comment
        # Generated comments can repeat; an owner would not show the same words twice.
        if (
            comment
            and comment not in seen
            and (t.response.sentiment_compound or 0) >= 0.3
            and t.response.stage.rating_scale.normalised(t.response.rating) >= 0.75
        ):
            good.append(t)
            seen.add(comment)
    good = good[:15]
    for index, testimonial in enumerate(good):
        if index < 3:
            moderation.feature(session, workspace.id, testimonial.id, None, now)
        else:
            moderation.approve(session, workspace.id, testimonial.id, None, now)
        comment = (testimonial.response.comment or "").lower()
        tags = [tag for tag, words in DEMO_TAGS.items() if any(w in comment for w in words)]
        if tags:
            moderation.set_tags(session, workspace.id, testimonial.id, tags)
        if index == 6:
            moderation.set_material_connection(session, workspace.id, testimonial.id, "gifted")
    # And one the owner turned down, so the inbox shows every state.
    rest = [t for t in pending if t not in good]
    if rest:
        moderation.reject(session, workspace.id, rest[-1].id)


# -- a year of answers at scale ------------------------------------------------------------

#: Rows per bulk INSERT (or COPY) statement.
BULK_CHUNK = 5000
_CONTACT_COLUMNS = (
    "id",
    "workspace_id",
    "email",
    "name",
    "external_id",
    "unsubscribed_at",
    "created_at",
)
_INVITATION_COLUMNS = (
    "id",
    "workspace_id",
    "contact_id",
    "stage_id",
    "touchpoint_id",
    "token_hash",
    "event_id",
    "status",
    "occurred_at",
    "created_at",
    "sent_at",
    "opened_at",
    "answered_at",
    "expires_at",
    "reminder_count",
)
_RESPONSE_COLUMNS = (
    "id",
    "workspace_id",
    "invitation_id",
    "stage_id",
    "touchpoint_id",
    "contact_id",
    "submission_key",
    "rating",
    "testimonial_opt_in",
    "submitted_at",
    "comment",
    "sentiment_compound",
    "sentiment_pos",
    "sentiment_neu",
    "sentiment_neg",
    "sentiment_label",
    "sentiment_version",
    "mismatch",
    "follow_up_state",
    "follow_up_due_at",
    "assignee_id",
    "resolved_at",
    "resolution_note",
)
_TESTIMONIAL_COLUMNS = (
    "id",
    "workspace_id",
    "response_id",
    "display_name",
    "show_name",
    "consent_text",
    "consent_version",
    "consented_at",
    "status",
    "excerpt",
    "approved_by_id",
    "approved_at",
    "withdrawn_at",
)
#: SQLite's page cache during a load (KiB): enough for the indexes of a million answers.
_LOAD_CACHE_KIB = 256 * 1024
_LOADED_TABLES = ("contact", "invitation", "response", "testimonial")
_NO_SENTIMENT = (None, None, None, None, None, None, None)


@dataclass(frozen=True)
class BulkDemoResult:
    """What `fill_workspace` inserted, and how long the inserts and the rollups took."""

    responses: int
    rows: dict[str, int]
    insert_seconds: float
    rollup_seconds: float

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.insert_seconds if self.insert_seconds else 0.0

    @property
    def responses_per_second(self) -> float:
        """Responses per second of the whole load, rollups included."""
        seconds = self.insert_seconds + self.rollup_seconds
        return self.responses / seconds if seconds else 0.0


@dataclass(frozen=True)
class _StageIds:
    id: int
    scale: Scale
    touchpoint_ids: tuple[int, ...]  # in the order of demo_data.STAGE_TOUCHPOINTS


class DemoJourneyMissing(LookupError):
    """The workspace lacks a stage or touchpoint of the default journey the demo answers."""


def demo_workspace_for_slug(
    session: Session, slug: str, email: str, password: str
) -> tuple[Workspace, bool]:
    """The workspace with this slug, created (default journey) if new; `email` made its owner.

    Returns the workspace and whether it was created. A new workspace is named
    after the slug ("acme-plants" -> "Acme Plants"). Raises AccountError for a
    bad email, password or slug.
    """
    if accounts.slugify(slug) != slug:
        raise accounts.AccountError(
            f"{slug!r} is not a slug (lowercase letters, digits and dashes), "
            f"e.g. {accounts.slugify(slug)!r}."
        )
    email = accounts.normalise_email(email)
    if "@" not in email or len(email) > 254:
        raise accounts.AccountError(f"{email!r} is not an email address.")
    if len(password) < accounts.PASSWORD_MIN:
        raise accounts.AccountError(
            f"The password needs at least {accounts.PASSWORD_MIN} characters."
        )
    workspace = accounts.workspace_by_slug(session, slug)
    created = workspace is None
    if workspace is None:
        workspace = accounts.create_workspace(session, slug.replace("-", " ").title())
        # create_workspace only appends "-2" to a slug that is taken, and this one is free.
        assert workspace.slug == slug, workspace.slug
    # Not accounts.create_owner: it finds the workspace by name, and names are not unique.
    accounts.make_owner_of(session, workspace, email, password)
    return workspace, created


def owner_id_of(session: Session, workspace: Workspace) -> int | None:
    """The first owner of the workspace, who the demo's follow-ups are assigned to."""
    return session.scalar(
        select(Membership.user_id)
        .where(Membership.workspace_id == workspace.id, Membership.role == "owner")
        .order_by(Membership.id)
        .limit(1)
    )


def response_count(session: Session, workspace_id: int) -> int:
    return (
        session.scalar(select(func.count(Response.id)).where(Response.workspace_id == workspace_id))
        or 0
    )


def fill_workspace(
    session: Session,
    workspace: Workspace,
    count: int,
    now: dt.datetime,
    *,
    owner_id: int | None = None,
    seed: int = 7,
    days: int = 365,
    chunk: int = BULK_CHUNK,
) -> BulkDemoResult:
    """Add `count` answered surveys spread over the `days` days up to `now`, rollups rebuilt.

    The story of `create_demo` over a year (see feedback/demo_data.py): retention
    the weak stage, better in the last 30 days; purchase souring in the Christmas
    rush; more answers in spring and before Christmas, and as the business grows.
    Each answer comes with its contact (about 1.6 answers per customer), its
    answered invitation, and some unanswered ones (answer rates per stage);
    opted-in answers with a testimonial consent record; unhappy ones with a
    follow-up, still open when recent, resolved (by `owner_id`) when older.

    Rows go in with bulk statements (executemany on SQLite, binary COPY on
    PostgreSQL), `chunk` answers at a time. The tables are locked against
    other writers first, so the rows can carry their ids (numbered on from the
    largest; they refer to each other). Comments come from a pool scored once
    with `feedback.sentiment`. On PostgreSQL the four tables' foreign keys are
    dropped for the load and added back (so checked) at its end, in the same
    transaction (see `_drop_foreign_keys`). The tables, and on PostgreSQL those
    they refer to, stay locked until the caller commits or rolls back: this is
    for a database nobody is using at the time. Adds to what the workspace
    holds; commits nothing. The workspace must have the default journey's
    stages and touchpoints (DemoJourneyMissing otherwise).
    """
    if count < 1 or days < 1:
        raise ValueError("count and days must be positive")
    started = time.perf_counter()
    # From here nobody else writes to the tables, so the ids after the largest stay free.
    _lock_tables(session, _LOADED_TABLES)
    connection = session.connection()
    with _sqlite_cache(connection, _LOAD_CACHE_KIB):
        inserted = _insert_answers(
            session, connection, workspace, count, now, owner_id, seed, days, chunk
        )
        insert_seconds = time.perf_counter() - started
        started = time.perf_counter()
        rebuild_rollups(session, workspace.id, workspace.timezone)
        rollup_seconds = time.perf_counter() - started
    return BulkDemoResult(count, inserted, insert_seconds, rollup_seconds)


def _insert_answers(
    session: Session,
    connection: Connection,
    workspace: Workspace,
    count: int,
    now: dt.datetime,
    owner_id: int | None,
    seed: int,
    days: int,
    chunk: int,
) -> dict[str, int]:
    """The rows of `fill_workspace`; how many went into each table."""
    stages = _demo_stages(session, workspace.id)
    pool = _scored_comment_pool()
    already = response_count(session, workspace.id)
    rng = random.Random(f"{seed}:{already}")
    ids = {table: _Ids(connection, table) for table in _LOADED_TABLES}
    inserted = dict.fromkeys(ids, 0)

    def insert(table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        _insert_rows(connection, table, columns, rows)
        inserted[table] += len(rows)

    zone = ZoneInfo(workspace.timezone)
    today = now.astimezone(zone).date()
    first_day = today - dt.timedelta(days=days - 1)
    per_day = demo_data.allocate_counts(demo_data.day_weights(first_day, days), count)
    # Rows are built ready for the driver: aware UTC times for PostgreSQL's COPY;
    # on SQLite, naive UTC from the start, written as text as UTCDateTime stores it.
    sqlite = connection.dialect.name == "sqlite"
    stamp = _sqlite_timestamp if sqlite else _as_is
    if sqlite:
        now = now.astimezone(dt.UTC).replace(tzinfo=None)
    window_start = _local_midnight(first_day, zone, naive=sqlite)
    foreign_keys = _drop_foreign_keys(connection, _LOADED_TABLES)

    customers = _insert_contacts(
        rng,
        insert,
        ids["contact"],
        workspace.id,
        math.ceil(count / demo_data.RESPONSES_PER_CUSTOMER),
        window_start,
        chunk,
        stamp,
    )

    stage_keys = tuple(demo_data.STAGE_WEIGHTS)
    stage_cum = _cumulative(tuple(demo_data.STAGE_WEIGHTS.values()))
    touchpoint_cum = {
        (stage, tone): _cumulative(demo_data.touchpoint_weights(stage, tone))
        for stage in stage_keys
        for tone in demo_data.TONES
    }
    rating_tables = {
        (stage, tone): (
            tuple(r for r, _ in demo_data.rating_table(stage, tone)),
            _cumulative(tuple(w for _, w in demo_data.rating_table(stage, tone))),
        )
        for stage in stage_keys
        for tone in demo_data.TONES
    }
    unanswered_rate = {s: 1 / r - 1 for s, r in demo_data.ANSWER_RATES.items()}
    hour_cum = demo_data.HOUR_CUM_WEIGHTS
    ttl = dt.timedelta(days=workspace.invitation_ttl_days)
    sla = dt.timedelta(hours=workspace.follow_up_sla_hours)
    consent = (workspace.consent_text, workspace.consent_version)
    # The demo's invitations have no link (nobody holds their tokens), so any unique
    # 64-hex value will do: a random prefix for this load, then the invitation id.
    # Ascending values keep the unique index append-only, which random hashes do not.
    token_prefix = hashlib.sha256(f"{seed}:{already}:{now.isoformat()}".encode()).hexdigest()[:40]
    ws = workspace.id
    delta = dt.timedelta
    random_ = rng.random
    n_customers = len(customers)

    invitations: list[tuple[Any, ...]] = []
    responses: list[tuple[Any, ...]] = []
    testimonials: list[tuple[Any, ...]] = []

    def flush() -> None:
        insert("invitation", _INVITATION_COLUMNS, invitations)
        insert("response", _RESPONSE_COLUMNS, responses)
        insert("testimonial", _TESTIMONIAL_COLUMNS, testimonials)
        invitations.clear()
        responses.clear()
        testimonials.clear()

    for offset, answers in enumerate(per_day):
        if not answers:
            continue
        day = first_day + dt.timedelta(days=offset)
        days_ago = days - 1 - offset
        recent = days_ago < demo_data.RECENT_DAYS
        day_start = _local_midnight(day, zone, naive=sqlite)
        seconds_in_day = (
            min(_local_midnight(day + dt.timedelta(days=1), zone, naive=sqlite), now) - day_start
        ).total_seconds()
        tone_cum = {
            stage: _cumulative(demo_data.tone_weights(stage, day, days_ago)) for stage in stage_keys
        }
        moments = sorted(
            (bisect.bisect(hour_cum, random_()) + random_()) / 24 * seconds_in_day
            for _ in range(answers)
        )
        for seconds in moments:
            submitted = day_start + delta(seconds=seconds)
            stage_key = stage_keys[bisect.bisect(stage_cum, random_())]
            stage = stages[stage_key]
            tone = demo_data.TONES[bisect.bisect(tone_cum[stage_key], random_())]
            touchpoint = bisect.bisect(touchpoint_cum[stage_key, tone], random_())
            touchpoint_key = demo_data.STAGE_TOUCHPOINTS[stage_key][touchpoint]
            ratings, rating_cum = rating_tables[stage_key, tone]
            rating = ratings[bisect.bisect(rating_cum, random_())]
            if tone != "neutral" and random_() < demo_data.MISMATCH_RATE:
                rating = stage.scale.low + stage.scale.high - rating
            if random_() < demo_data.COMMENT_SKIP_RATE:
                scored: tuple[Any, ...] = _NO_SENTIMENT
            else:
                choices = pool[stage_key, touchpoint_key, tone, recent]
                scored = choices[int(random_() * len(choices))]
            customer = int(random_() * n_customers)
            contact_id, first, last = customers[customer]

            invitation_id = next(ids["invitation"])
            lag = 720 + random_() * 107_280  # 12 minutes to 30 hours after the email
            sent = submitted - delta(seconds=lag)
            created = sent - delta(seconds=5 + random_() * 600)
            invitations.append(
                (
                    invitation_id,
                    ws,
                    contact_id,
                    stage.id,
                    stage.touchpoint_ids[touchpoint],
                    f"{token_prefix}{invitation_id:024x}",
                    None,
                    "answered",
                    stamp(created),
                    stamp(created),
                    stamp(sent),
                    stamp(submitted - delta(seconds=60 + lag * 0.02)),
                    stamp(submitted),
                    stamp(created + ttl),
                    0,
                )
            )

            response_id = next(ids["response"])
            opted_in = scored[0] is not None and random_() < demo_data.OPT_IN_RATES[tone]
            follow_up: tuple[Any, ...] = ("none", None, None, None, None)
            if is_unhappy(stage.scale.key, rating, scored[5]):
                follow_up = _follow_up(rng, submitted, now, sla, days_ago, owner_id, stamp)
            responses.append(
                (
                    response_id,
                    ws,
                    invitation_id,
                    stage.id,
                    stage.touchpoint_ids[touchpoint],
                    contact_id,
                    None,
                    rating,
                    opted_in,
                    stamp(submitted),
                    *scored,
                    is_mismatch(rating, stage.scale.key, scored[5], scored[1]),
                    *follow_up,
                )
            )
            if opted_in:
                named = random_() >= demo_data.ANONYMOUS_QUOTE_RATE
                display_name = f"{first} {last[0]}." if named else None
                testimonials.append(
                    (
                        next(ids["testimonial"]),
                        ws,
                        response_id,
                        display_name,
                        named,
                        *consent,
                        stamp(submitted),
                        "pending",
                        None,
                        None,
                        None,
                        None,
                    )
                )

            if random_() < unanswered_rate[stage_key]:
                # Someone else asked at the same stage that day, who never answered.
                other = customers[int(random_() * n_customers)][0]
                other_sent = day_start + delta(seconds=random_() * seconds_in_day)
                other_created = other_sent - delta(seconds=5 + random_() * 600)
                opened = other_sent + delta(seconds=300 + random_() * 20_000)
                was_opened = random_() < 0.15 and opened < now
                invitation_id = next(ids["invitation"])
                invitations.append(
                    (
                        invitation_id,
                        ws,
                        other,
                        stage.id,
                        stage.touchpoint_ids[int(random_() * len(stage.touchpoint_ids))],
                        f"{token_prefix}{invitation_id:024x}",
                        None,
                        "opened" if was_opened else "sent",
                        stamp(other_created),
                        stamp(other_created),
                        stamp(other_sent),
                        stamp(opened) if was_opened else None,
                        None,
                        stamp(other_created + ttl),
                        0,
                    )
                )
            if len(responses) >= chunk:
                flush()
    flush()
    for table_ids in ids.values():
        table_ids.close()
    _add_foreign_keys(connection, foreign_keys)
    return inserted


@contextlib.contextmanager
def _sqlite_cache(connection: Connection, kib: int) -> Iterator[None]:
    """On SQLite, a page cache of `kib` KiB for this connection while the block runs.

    The default 2 MiB is far smaller than the indexes of a million answers, and
    a load that inserts into them all over would spend its time re-reading pages.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    previous = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size = -{int(kib)}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {int(previous or -2000)}")


def _drop_foreign_keys(connection: Connection, tables: tuple[str, ...]) -> list[tuple[str, ...]]:
    """On PostgreSQL, drop the tables' foreign keys for the load; what `_add_foreign_keys` needs.

    PostgreSQL checks a foreign key row by row (about 8 us each here; a
    response has five), which would make the checks most of the load's time;
    adding the constraints back afterwards checks every row again in one
    join per constraint. This is PostgreSQL's own advice for bulk loads
    ("Populating a Database"). It is all one transaction: a failed check, or
    any error, rolls the drop back too. The tables are locked until the commit.
    SQLite checks foreign keys cheaply: they stay.
    """
    if connection.dialect.name != "postgresql":
        return []
    found = connection.execute(
        text(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
            " FROM pg_constraint"
            " WHERE contype = 'f' AND conrelid = ANY(CAST(:tables AS regclass[]))"
            " ORDER BY conrelid::regclass::text, conname"
        ),
        {"tables": list(tables)},
    ).all()
    for table, name, _definition in found:
        connection.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    return [tuple(row) for row in found]


def _add_foreign_keys(connection: Connection, foreign_keys: list[tuple[str, ...]]) -> None:
    """Add back (and so check) what `_drop_foreign_keys` dropped, exactly as it was."""
    for table, name, definition in foreign_keys:
        connection.exec_driver_sql(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


def _follow_up(
    rng: random.Random,
    submitted: dt.datetime,
    now: dt.datetime,
    sla: dt.timedelta,
    days_ago: int,
    owner_id: int | None,
    stamp: Callable[[dt.datetime], Any],
) -> tuple[Any, ...]:
    """(state, due at, assignee, resolved at, note) of an unhappy answer's follow-up.

    The last few days' are mostly still open (some overdue, some assigned);
    older ones were resolved, most within the SLA.
    """
    due = stamp(submitted + sla)
    still_open = 0.9 if days_ago < 2 else 0.6 if days_ago < 5 else 0.25 if days_ago < 10 else 0.0
    resolved = submitted + sla * (0.1 + rng.random() * (0.9 if rng.random() < 0.8 else 3.0))
    if rng.random() < still_open or resolved >= now:
        assignee = owner_id if rng.random() < 0.4 else None
        return ("open", due, assignee, None, None)
    note = demo_data.RESOLUTION_NOTES[int(rng.random() * len(demo_data.RESOLUTION_NOTES))]
    return ("resolved", due, owner_id, stamp(resolved), note)


def _insert_contacts(
    rng: random.Random,
    insert: Any,
    ids: Iterator[int],
    workspace_id: int,
    count: int,
    window_start: dt.datetime,
    chunk: int,
    stamp: Callable[[dt.datetime], Any],
) -> list[tuple[int, str, str]]:
    """`count` new contacts; (id, first name, last name) of each."""
    firsts, lasts, domains = demo_data.FIRST_NAMES, demo_data.LAST_NAMES, demo_data.EMAIL_DOMAINS
    parts = {name: demo_data.email_part(name) for name in (*firsts, *lasts)}
    customers: list[tuple[int, str, str]] = []
    rows: list[tuple[Any, ...]] = []
    for _ in range(count):
        contact_id = next(ids)
        first = firsts[int(rng.random() * len(firsts))]
        last = lasts[int(rng.random() * len(lasts))]
        domain = domains[contact_id % len(domains)]
        # The id makes the address unique in the workspace, however many loads there are.
        email = f"{parts[first]}.{parts[last]}.{contact_id}@{domain}"
        created = window_start - dt.timedelta(seconds=rng.random() * 30 * 86_400)
        rows.append(
            (contact_id, workspace_id, email, f"{first} {last}", None, None, stamp(created))
        )
        customers.append((contact_id, first, last))
        if len(rows) >= chunk:
            insert("contact", _CONTACT_COLUMNS, rows)
            rows = []
    insert("contact", _CONTACT_COLUMNS, rows)
    return customers


def _demo_stages(session: Session, workspace_id: int) -> dict[str, _StageIds]:
    """The workspace's stage and touchpoint ids for the keys the demo data uses."""
    stages = {
        stage.key: stage for stage in session.scalars(workspace_scoped(select(Stage), workspace_id))
    }
    touchpoints = {
        (tp.stage_id, tp.key): tp.id
        for tp in session.scalars(workspace_scoped(select(Touchpoint), workspace_id))
    }
    found = {}
    for key, touchpoint_keys in demo_data.STAGE_TOUCHPOINTS.items():
        stage = stages.get(key)
        if stage is None or stage.scale != _scale_of(key):
            raise DemoJourneyMissing(f"no {_scale_of(key)} stage {key!r}")
        missing = [k for k in touchpoint_keys if (stage.id, k) not in touchpoints]
        if missing:
            raise DemoJourneyMissing(f"no touchpoint {missing[0]!r} in stage {key!r}")
        found[key] = _StageIds(
            stage.id,
            SCALES[stage.scale],
            tuple(touchpoints[stage.id, k] for k in touchpoint_keys),
        )
    return found


def _scale_of(stage_key: str) -> str:
    """The scale key the demo's ratings for this stage are on."""
    low, high = demo_data.STAGE_SCALES[stage_key]
    return next(s.key for s in SCALES.values() if (s.low, s.high) == (low, high))


@functools.cache
def _scored_comment_pool() -> dict[tuple[str, str, str, bool], tuple[tuple[Any, ...], ...]]:
    """The demo's comment pool, each comment with its sentiment columns, scored once."""
    scored: dict[str, tuple[Any, ...]] = {}
    pool = {}
    for slot, comments in demo_data.comment_pool().items():
        for comment in comments:
            if comment not in scored:
                s = sentiment.score(comment)
                scored[comment] = (comment, s.compound, s.pos, s.neu, s.neg, s.label, s.version)
        pool[slot] = tuple(scored[c] for c in comments)
    return pool


def _cumulative(weights: tuple[float, ...]) -> tuple[float, ...]:
    """Cumulative shares ending below 1.0 exactly, for bisect with random() in [0, 1)."""
    total = sum(weights)
    running, cum = 0.0, []
    for weight in weights[:-1]:
        running += weight
        cum.append(running / total)
    return tuple(cum)


def _local_midnight(day: dt.date, zone: ZoneInfo, *, naive: bool) -> dt.datetime:
    """The UTC moment the day begins in the zone; naive UTC if asked."""
    moment = dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC)
    return moment.replace(tzinfo=None) if naive else moment


def _as_is(value: dt.datetime) -> dt.datetime:
    return value


class _Ids:
    """Primary keys for rows inserted with their ids given: on from the largest taken.

    The caller holds the table's write lock (`_lock_tables`), so nobody else
    takes an id meanwhile. On PostgreSQL the table's sequence is then moved
    past the ids used (`close`); drawing each id from it would cost a query
    per few thousand rows and about 4 us per id.
    """

    def __init__(self, connection: Connection, table: str) -> None:
        self.connection = connection
        self.table = table
        self.postgres = connection.dialect.name == "postgresql"
        largest = f"(SELECT coalesce(max(id), 0) + 1 FROM {table})"
        first = connection.execute(
            text(f"SELECT greatest(nextval(pg_get_serial_sequence(:table, 'id')), {largest})")
            if self.postgres
            else text(f"SELECT {largest}"),
            {"table": table},
        ).scalar_one()
        self.first = int(first)
        self.counter = itertools.count(self.first)

    def __iter__(self) -> Iterator[int]:
        return self

    def __next__(self) -> int:
        return next(self.counter)

    def close(self) -> None:
        """On PostgreSQL, the sequence goes on after the last id used."""
        last = next(self.counter) - 1
        if self.postgres and last >= self.first:
            self.connection.execute(
                text("SELECT setval(pg_get_serial_sequence(:table, 'id'), :last)"),
                {"table": self.table, "last": last},
            )


def _lock_tables(session: Session, tables: tuple[str, ...]) -> None:
    """Keep every other writer out of the tables until the transaction ends.

    SQLite: its one write lock. PostgreSQL: SHARE ROW EXCLUSIVE (others may
    still read).
    """
    lock_for_writing(session)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"LOCK TABLE {', '.join(tables)} IN SHARE ROW EXCLUSIVE MODE"))


def _insert_rows(
    connection: Connection, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """INSERT rows built ready for the driver: binary COPY on PostgreSQL, executemany on SQLite.

    Not `connection.execute(table.insert(), dicts)`: SQLAlchemy's per-value
    bind processing would cost more than the INSERT itself.
    """
    if not rows:
        return
    names = ", ".join(columns)
    if connection.dialect.name == "postgresql":
        driver_connection = connection.connection.driver_connection
        assert driver_connection is not None  # only an invalidated connection has none
        cursor = driver_connection.cursor()
        with cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(_postgres_types(table, columns))
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" * len(columns))
    connection.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)


@functools.cache
def _postgres_types(table: str, columns: tuple[str, ...]) -> list[str]:
    """The PostgreSQL type of each column, as a binary COPY must be told."""
    table_columns = db.metadata.tables[table].c
    names = []
    for column in columns:
        column_type = table_columns[column].type
        if isinstance(column_type, TypeDecorator):
            column_type = column_type.impl_instance
        names.append(_POSTGRES_TYPES[column_type.python_type])
    return names


_POSTGRES_TYPES = {
    int: "int4",
    str: "text",  # varchar and text share their binary form
    bool: "bool",
    float: "float8",
    dt.datetime: "timestamptz",
}


def _sqlite_timestamp(value: dt.datetime) -> str:
    """A naive UTC time as UTCDateTime stores it on SQLite: 'YYYY-MM-DD HH:MM:SS.ffffff'."""
    return value.isoformat(" ", "microseconds")
