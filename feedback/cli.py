"""`flask --app wsgi feedback ...` commands."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import Any

import click
from flask import current_app
from sqlalchemy import select

from feedback import answers
from feedback import backup as backups
from feedback import demo as demo_module
from feedback.accounts import services as accounts
from feedback.accounts.models import Workspace
from feedback.db import utcnow
from feedback.delivery.mailbox import MailboxMailer
from feedback.delivery.mailer import Mailer, MailerConfigError, SmtpMailer
from feedback.delivery.worker import (
    DeliverySettings,
    Heartbeat,
    deliver_due,
    run_worker,
)
from feedback.extensions import db
from feedback.followups.services import queue_follow_up_digests
from feedback.insights import search
from feedback.insights.services import rebuild_rollups
from feedback.journey.services import UnknownStage, UnknownTouchpoint
from feedback.surveys import import_runner, imports, touchpoints
from feedback.surveys import services as surveys
from feedback.surveys.emails import queue_due_reminders, queue_invitation_email

# Where the worker sends outside production when SMTP_URL is not set and the
# local mailbox is off (the test environment).
DEVELOPMENT_SMTP_URL = "smtp://127.0.0.1:25"
# How long one worker round spends recording CSV imports before sending email again.
IMPORT_SLICE_SECONDS = 1.0


@click.group("feedback")
def feedback_cli() -> None:
    """Journey feedback: owners, survey links, demo data."""


def _workspace(slug: str) -> Workspace:
    workspace = accounts.workspace_by_slug(db.session, slug)
    if workspace is None:
        raise click.ClickException(f"No workspace with the slug {slug!r}.")
    return workspace


@feedback_cli.command("create-owner")
@click.argument("email")
@click.option("--password", required=True, help="At least 10 characters.")
@click.option("--workspace", "workspace_name", required=True, help="The business's name.")
def create_owner(email: str, password: str, workspace_name: str) -> None:
    """Create an owner login, and the workspace (with the default journey) if it is new."""
    try:
        user, workspace = accounts.create_owner(db.session, email, password, workspace_name)
    except accounts.AccountError as error:
        raise click.ClickException(str(error)) from error
    db.session.commit()
    click.echo(f"Owner {user.email} of workspace {workspace.name!r} (slug: {workspace.slug}).")


@feedback_cli.command("invite")
@click.option("--workspace", "slug", required=True, help="Workspace slug.")
@click.option("--stage", "stage_key", required=True, help="Stage key, e.g. purchase.")
@click.option("--touchpoint", "touchpoint_key", required=True, help="Touchpoint key.")
@click.option("--email", required=True, help="The customer's email address.")
@click.option("--name", default=None, help="The customer's name.")
@click.option("--send", is_flag=True, help="Email it (through the outbox and the worker).")
def invite(
    slug: str, stage_key: str, touchpoint_key: str, email: str, name: str | None, send: bool
) -> None:
    """Create a personal survey link and print it (it is shown only this once).

    With --send the link is also emailed to the customer by `flask feedback worker`.
    """
    workspace = _workspace(slug)
    now = utcnow()
    try:
        issued = surveys.invite(
            db.session,
            workspace,
            stage_key=stage_key,
            touchpoint_key=touchpoint_key,
            email=email,
            name=name,
            now=now,
        )
    except UnknownStage as error:
        raise click.ClickException(f"No active stage {stage_key!r} in {slug}.") from error
    except UnknownTouchpoint as error:
        raise click.ClickException(
            f"No touchpoint {touchpoint_key!r} in stage {stage_key!r}."
        ) from error
    except surveys.InvalidInvitation as error:
        raise click.ClickException(str(error)) from error
    if issued.invitation.status == "unsubscribed":
        db.session.commit()
        raise click.ClickException(f"{email} has unsubscribed from survey emails.")
    if issued.invitation.status == "throttled":
        db.session.commit()
        raise click.ClickException(
            f"{email} was asked for feedback too recently (see the workspace's throttle "
            "settings); no link was made."
        )
    if send:
        queue_invitation_email(
            db.session,
            workspace,
            issued,
            base_url=current_app.config["BASE_URL"],
            secret_key=current_app.config["SECRET_KEY"],
            now=now,
        )
        click.echo(f"Queued the survey email to {issued.invitation.contact.email}.")
    else:
        # Printing the link hands it over, so it counts as sent.
        answers.mark_sent(db.session, workspace, issued.invitation, now)
    db.session.commit()
    click.echo(surveys.survey_url(current_app.config["BASE_URL"], issued.token))


@feedback_cli.command("create-api-key")
@click.option("--workspace", "slug", required=True, help="Workspace slug.")
@click.option("--name", default="API key", show_default=True, help="A label to recognise it by.")
def create_api_key(slug: str, name: str) -> None:
    """Create an API key for the workspace and print it, last, this once only."""
    workspace = _workspace(slug)
    issued = accounts.create_api_key(db.session, workspace, name, utcnow())
    db.session.commit()
    click.echo(f"API key {issued.api_key.prefix}... ({issued.api_key.name}) for {workspace.slug}.")
    click.echo("Store it now: only a hash is kept, it cannot be shown again.")
    click.echo(issued.secret)


@feedback_cli.command("import-touchpoints")
@click.argument("csv_file", type=click.File("rb"))
@click.option("--workspace", "slug", required=True, help="Workspace slug.")
@click.option("--no-send", is_flag=True, help="Record the invitations without emailing them.")
def import_touchpoints(csv_file: Any, slug: str, no_send: bool) -> None:
    """Record touchpoints from a CSV (email, name, stage, touchpoint, event_id, occurred_at).

    Bad rows are listed with the reason and do not stop the good ones; rows
    whose event_id was imported before are skipped, so a re-import sends nothing
    twice. The same import job as an upload, run here to the end: each batch of
    rows is committed as it is recorded.
    """
    workspace = _workspace(slug)
    try:
        rows = touchpoints.read_csv(csv_file.read())
    except touchpoints.CsvImportError as error:
        raise click.ClickException(str(error)) from error
    created = imports.create_import_job(
        db.session,
        workspace,
        rows,
        file_name=os.path.basename(csv_file.name),
        send=not no_send,
        now=utcnow(),
    )
    db.session.commit()
    job = import_runner.run_import_job(
        db.session, created.id, import_runner.ImportSettings.of(current_app)
    )
    assert job is not None
    for run in imports.rejected_lines(db.session, job):
        for line in range(run.first, run.last + 1):
            click.echo(f"line {line}: rejected: {run.reason}")
    click.echo(
        f"{job.recorded} recorded, {job.duplicates} already imported, {job.rejected} rejected."
    )
    if job.throttled or job.unsubscribed:
        click.echo(
            f"Of those recorded, {job.throttled} were not sent a survey (asked recently) "
            f"and {job.unsubscribed} were not (unsubscribed)."
        )
    if job.state == "failed":
        raise click.ClickException(
            f"An error ({job.last_error}) stopped the import: {job.not_recorded} rows from line "
            f"{job.first_not_recorded_line} on were not recorded. Run it again to import them."
        )


# Responses made by `demo`: through the services without --workspace, bulk with it.
DEMO_SMALL = 400
DEMO_SMALL_MAX = 5000
DEMO_BULK = 10_000


@feedback_cli.command("demo")
@click.option(
    "--workspace",
    "slug",
    default=None,
    help="Fill this workspace (created if new) with a year of bulk-inserted responses.",
)
@click.option(
    "--responses",
    "count",
    default=None,
    type=click.IntRange(1, None),
    help=f"How many: {DEMO_SMALL:,} without --workspace (at most {DEMO_SMALL_MAX:,}), "
    f"{DEMO_BULK:,} with it.",
)
@click.option(
    "--owner",
    "--email",
    "email",
    default=demo_module.DEMO_EMAIL,
    show_default=True,
    help="The owner's login.",
)
@click.option("--password", default=demo_module.DEMO_PASSWORD, show_default=True)
@click.option("--add", is_flag=True, help="With --workspace: add to a workspace that exists.")
def demo(slug: str | None, count: int | None, email: str, password: str, add: bool) -> None:
    """Create a demo workspace with realistic responses; prints the owner's login.

    Without --workspace: "Greenleaf Plants", 400 responses over 90 days answered
    through the same code as customers' answers (left as it is if it exists).

    With --workspace SLUG: N responses spread over the past year, bulk-inserted
    with their contacts, invitations (some unanswered), testimonial consents
    and follow-ups, then the rollups rebuilt; prints the rows/s. A workspace
    that exists already is left as it is, unless --add adds N more to it. Either
    way the owner's login is (re)set.
    """
    if slug is not None:
        _bulk_demo(slug, count or DEMO_BULK, email, password, add)
        return
    if add:
        raise click.UsageError("--add needs --workspace.")
    count = count or DEMO_SMALL
    if count > DEMO_SMALL_MAX:
        raise click.UsageError(
            f"Without --workspace the demo answers each survey like a customer, at most "
            f"{DEMO_SMALL_MAX:,}; for more, give --workspace SLUG (bulk insert)."
        )
    result = demo_module.create_demo(db.session, email, password, count, now=utcnow())
    db.session.commit()
    if result.created:
        click.echo(
            f"Demo workspace {result.workspace.name!r}: {result.responses} responses "
            f"from {result.invitations} invitations."
        )
    else:
        click.echo(f"Demo workspace {result.workspace.name!r} already exists; left as it is.")
    _echo_login(email, password)


def _bulk_demo(slug: str, count: int, email: str, password: str, add: bool) -> None:
    """`demo --workspace`: a year of responses, bulk-inserted."""
    try:
        workspace, created = demo_module.demo_workspace_for_slug(db.session, slug, email, password)
    except accounts.AccountError as error:
        raise click.ClickException(str(error)) from error
    if not created and not add:
        db.session.commit()
        existing = demo_module.response_count(db.session, workspace.id)
        click.echo(
            f"Workspace {slug!r} already exists ({existing:,} responses); left as it is. "
            f"Give --add to add {count:,} more."
        )
        _echo_login(email, password)
        return
    click.echo(f"Filling {slug!r} with {count:,} responses over the past year ...")
    try:
        result = demo_module.fill_workspace(
            db.session,
            workspace,
            count,
            utcnow(),
            owner_id=demo_module.owner_id_of(db.session, workspace),
        )
    except demo_module.DemoJourneyMissing as error:
        raise click.ClickException(
            f"Workspace {slug!r} lacks the default journey the demo answers: {error}."
        ) from error
    db.session.commit()
    rows = result.rows
    click.echo(
        f"Inserted {result.total_rows:,} rows ({rows['contact']:,} contacts, "
        f"{rows['invitation']:,} invitations, {rows['response']:,} responses, "
        f"{rows['testimonial']:,} testimonial consents) in {result.insert_seconds:.1f} s: "
        f"{result.rows_per_second:,.0f} rows/s."
    )
    click.echo(
        f"Rollups rebuilt in {result.rollup_seconds:.1f} s; {result.responses:,} responses "
        f"at {result.responses_per_second:,.0f}/s overall."
    )
    _echo_login(email, password)


def _echo_login(email: str, password: str) -> None:
    click.echo(f"Log in at {current_app.config['BASE_URL']}/login")
    click.echo(f"  email:    {email}")
    click.echo(f"  password: {password}")


@feedback_cli.command("worker")
@click.option("--once", is_flag=True, help="Send what is due now, then exit.")
@click.option("--interval", default=2.0, show_default=True, help="Seconds between polls.")
@click.option(
    "--connections",
    default=2,
    show_default=True,
    type=click.IntRange(1, 20),
    help="SMTP connections used at once.",
)
def worker(once: bool, interval: float, connections: int) -> None:
    """Send the outbox: emails go to SMTP_URL, webhook calls to their URLs (each in a
    lane of its own), failures retry with exponential backoff.

    Each round first queues the reminders that are due and, once a minute,
    the owners' digests of new unhappy answers (at most one an hour each), and
    records pending CSV imports a batch or two at a time (emails wait at most a
    second or so for them). The loop outlives a database outage: it logs, waits
    and carries on.
    """
    config = current_app.config
    mailer: Mailer
    smtp_url = config["SMTP_URL"]
    if smtp_url is None and config["FEEDBACK_ENV"] == "production":
        raise click.ClickException(
            "SMTP_URL is not set: set it to your mail server, e.g. "
            "smtp://user:pass@smtp.example.com:587 (or smtps://...:465). "
            "The worker will not guess where customers' emails should go."
        )
    if smtp_url is None and config["MAILBOX_ENABLED"]:
        # Development without a mail server: the emails land in the app's Mailbox page.
        mailer = MailboxMailer(Path(config["MAILBOX_PATH"]))
        click.echo(
            f"SMTP_URL is not set: emails go to the local mailbox {config['MAILBOX_PATH']} "
            "(read them under Settings → Delivery → Mailbox)."
        )
    else:
        try:
            mailer = SmtpMailer.from_url(smtp_url or DEVELOPMENT_SMTP_URL)
        except MailerConfigError as error:
            raise click.ClickException(str(error)) from error
    settings = DeliverySettings(
        mail_from=config["MAIL_FROM"],
        retry_base_seconds=config["OUTBOX_RETRY_BASE_SECONDS"],
        max_attempts=config["OUTBOX_MAX_ATTEMPTS"],
        connections=connections,
        lease=dt.timedelta(seconds=config["OUTBOX_LEASE_SECONDS"]),
        on_sent=answers.record_emails_sent,
        webhook_allow_private=config["WEBHOOK_ALLOW_PRIVATE_NETWORKS"],
    )
    digests_due = 0.0

    def housekeeping(session: Any) -> int:
        nonlocal digests_due
        reminders = queue_due_reminders(session, utcnow())
        session.commit()
        if reminders:
            click.echo(f"queued {reminders} reminders")
        digests = 0
        if time.monotonic() >= digests_due:
            digests_due = time.monotonic() + 60
            digests = queue_follow_up_digests(session, utcnow(), base_url=config["BASE_URL"])
            session.commit()
            if digests:
                click.echo(f"queued {digests} follow-up digests")
        # Bounded, so emails in the same lane never wait long behind an import.
        imports_left = import_runner.run_pending_imports(
            session, import_runner.ImportSettings.of(current_app), seconds=IMPORT_SLICE_SECONDS
        )
        return reminders + digests + imports_left

    heartbeat = Heartbeat(utcnow())
    if once:
        heartbeat.write(db.session, utcnow(), force=True)
        housekeeping(db.session)
        report = deliver_due(db.session, mailer, settings, utcnow)
        heartbeat.count(report, utcnow())
        heartbeat.write(db.session, utcnow(), force=True)
        click.echo(f"sent {report.sent}, retrying {report.retrying}, failed {report.failed}")
        return

    # Each batch is logged as a JSON line by the worker itself (feedback.observe).
    run_worker(
        current_app._get_current_object(),  # type: ignore[attr-defined]
        mailer,
        settings,
        utcnow,
        interval=interval,
        housekeeping=housekeeping,
        heartbeat=heartbeat,
    )


@feedback_cli.command("rescore")
@click.option("--all", "everything", is_flag=True, help="Also comments scored by this version.")
def rescore(everything: bool) -> None:
    """Score comments again with this analyzer version and rebuild the affected rollups."""
    changed = surveys.rescore_responses(db.session, everything=everything)
    for workspace_id in changed:
        workspace = db.session.get(Workspace, workspace_id)
        assert workspace is not None
        rebuild_rollups(db.session, workspace.id, workspace.timezone)
    db.session.commit()
    click.echo(f"Rescored {sum(changed.values())} responses in {len(changed)} workspaces.")


@feedback_cli.command("rebuild-rollups")
@click.option("--workspace", "slug", default=None, help="Only this workspace (default: all).")
def rebuild_rollups_command(slug: str | None) -> None:
    """Recompute the stage/touchpoint/day rollups from the responses and invitations.

    The rollups are kept current as answers arrive; this is for after a data
    repair, an import done outside the app, or a change of time zone.
    """
    workspaces = (
        [_workspace(slug)]
        if slug
        else list(db.session.scalars(select(Workspace).order_by(Workspace.id)))
    )
    for workspace in workspaces:
        rows = rebuild_rollups(db.session, workspace.id, workspace.timezone)
        db.session.commit()
        click.echo(f"{workspace.slug}: {rows} rollup rows")


@feedback_cli.command("compact-search")
def compact_search() -> None:
    """Rewrite the search index so erased comments and names leave it for good (SQLite).

    An erased or changed comment is no longer found at once; on SQLite its
    words stay in the index's older pages until they are merged. Run this after
    erasing personal data (seconds per million responses; writers wait). On
    PostgreSQL there is nothing to do: VACUUM removes old row versions.
    """
    if search.compact_index(db.session):
        db.session.commit()
        click.echo("Search index rewritten.")
    else:
        click.echo("Nothing to do on PostgreSQL: VACUUM removes old row versions.")


@feedback_cli.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
def backup(path: Path, force: bool) -> None:
    """Copy the database to PATH, consistently, while the service keeps running.

    SQLite: a copy made with SQLite's online backup API (one file; restore it
    by stopping the service and copying it back). PostgreSQL: runs
    `pg_dump --format=custom` (restore with `pg_restore --clean --if-exists`),
    or, if pg_dump is not installed here, prints the command to run. The copy
    appears under PATH only once it is complete.
    """
    try:
        result = backups.backup_database(
            current_app.config["SQLALCHEMY_DATABASE_URI"], path, force=force
        )
    except backups.BackupError as error:
        raise click.ClickException(str(error)) from error
    except OSError as error:
        raise click.ClickException(f"Could not write the backup: {error}") from error
    if not result.written:
        click.echo("pg_dump is not installed here. Run this where it is (a version at least")
        click.echo("the server's), with the password in PGPASSWORD or ~/.pgpass:")
        click.echo(f"  {result.command}")
        raise SystemExit(1)
    click.echo(f"Backed up the database to {result.path} ({result.path.stat().st_size:,} bytes).")


@feedback_cli.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def restore(path: Path, yes: bool) -> None:
    """Put an SQLite backup made by `backup` in place of the database (service stopped).

    The current database is kept beside it as FILE.replaced-TIMESTAMP. Refuses
    while the database is open. On PostgreSQL it prints the pg_restore command.
    """
    url = current_app.config["SQLALCHEMY_DATABASE_URI"]
    if not yes and url.startswith("sqlite"):
        click.confirm(f"Replace the database with {path}?", abort=True)
    try:
        result = backups.restore_sqlite(url, path, now=utcnow())
    except backups.BackupError as error:
        raise click.ClickException(str(error)) from error
    except OSError as error:
        raise click.ClickException(f"Could not restore: {error}") from error
    if result.replaced_kept_as:
        click.echo(f"The database it replaced is kept as {result.replaced_kept_as}.")
    click.echo(f"Restored {path} (schema revision {result.revision}) to {result.database}.")
    click.echo(
        "Next: flask --app wsgi db upgrade (if the backup is older), then start the service."
    )
