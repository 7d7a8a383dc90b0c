"""`flask --app wsgi feedback ...` commands."""

from __future__ import annotations

import time
from typing import Any

import click
from flask import current_app

from feedback import demo as demo_module
from feedback.accounts import services as accounts
from feedback.accounts.models import Workspace
from feedback.db import utcnow
from feedback.delivery.mailer import MailerConfigError, SmtpMailer
from feedback.delivery.worker import DeliverySettings, deliver_due
from feedback.extensions import db
from feedback.insights.services import rebuild_rollups
from feedback.journey.services import UnknownStage, UnknownTouchpoint
from feedback.surveys import services as surveys
from feedback.surveys import touchpoints
from feedback.surveys.emails import queue_due_reminders, queue_invitation_email


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
        surveys.mark_sent(db.session, workspace, issued.invitation, now)
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
    whose event_id was imported before are skipped, so a re-import sends nothing twice.
    """
    workspace = _workspace(slug)
    try:
        rows = touchpoints.read_csv(csv_file.read())
    except touchpoints.CsvImportError as error:
        raise click.ClickException(str(error)) from error
    report = touchpoints.import_touchpoints(
        db.session,
        workspace,
        rows,
        now=utcnow(),
        base_url=current_app.config["BASE_URL"],
        secret_key=current_app.config["SECRET_KEY"],
        send=not no_send,
    )
    db.session.commit()
    for line, reason in report.rejected:
        click.echo(f"line {line}: rejected: {reason}")
    click.echo(
        f"{len(report.created)} recorded, {len(report.duplicates)} already imported, "
        f"{len(report.rejected)} rejected."
    )


@feedback_cli.command("demo")
@click.option("--email", default=demo_module.DEMO_EMAIL, show_default=True)
@click.option("--password", default=demo_module.DEMO_PASSWORD, show_default=True)
@click.option("--responses", "count", default=400, show_default=True, type=click.IntRange(1, 5000))
def demo(email: str, password: str, count: int) -> None:
    """Create a demo workspace with realistic responses over 90 days; prints the login."""
    result = demo_module.create_demo(db.session, email, password, count, now=utcnow())
    db.session.commit()
    if result.created:
        click.echo(
            f"Demo workspace {result.workspace.name!r}: {result.responses} responses "
            f"from {result.invitations} invitations."
        )
    else:
        click.echo(f"Demo workspace {result.workspace.name!r} already exists; left as it is.")
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
    """Send the outbox: emails go to SMTP_URL, failures retry with exponential backoff.

    Each round first queues the reminders that are due.
    """
    config = current_app.config
    try:
        mailer = SmtpMailer.from_url(config["SMTP_URL"])
    except MailerConfigError as error:
        raise click.ClickException(str(error)) from error
    settings = DeliverySettings(
        mail_from=config["MAIL_FROM"],
        retry_base_seconds=config["OUTBOX_RETRY_BASE_SECONDS"],
        max_attempts=config["OUTBOX_MAX_ATTEMPTS"],
        connections=connections,
        on_sent=surveys.record_emails_sent,
    )
    while True:
        reminders = queue_due_reminders(db.session, utcnow())
        db.session.commit()
        if reminders:
            click.echo(f"queued {reminders} reminders")
        report = deliver_due(db.session, mailer, settings, utcnow)
        if report.sent or report.retrying or report.failed or once:
            click.echo(f"sent {report.sent}, retrying {report.retrying}, failed {report.failed}")
        if once:
            return
        time.sleep(interval)


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
