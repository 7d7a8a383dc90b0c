"""`flask feedback demo --workspace`: a year of responses, bulk-inserted."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from feedback import sentiment
from feedback.accounts.models import Workspace
from feedback.db import utcnow
from feedback.insights.models import StageDailyStat
from feedback.insights.services import journey_summary, local_day
from feedback.journey.models import Stage
from feedback.journey.scales import is_unhappy
from feedback.surveys.models import Invitation, Response
from feedback.testimonials.models import Testimonial

OWNER, PASSWORD = "owner@acme.example", "long enough pw"


def bulk_demo(runner, *extra: str, responses: int = 2000, owner_flag: str = "--owner"):
    return runner.invoke(
        args=[
            "feedback",
            "demo",
            "--workspace",
            "acme-plants",
            "--responses",
            str(responses),
            owner_flag,
            OWNER,
            "--password",
            PASSWORD,
            *extra,
        ]
    )


def count(session, column, *where) -> int:
    return session.scalar(select(func.count(column)).where(*where))


def test_bulk_demo_fills_a_year_with_the_story_and_rollups(runner, db_session, auth, client):
    result = bulk_demo(runner)
    assert result.exit_code == 0, result.output
    assert "rows/s" in result.output and OWNER in result.output and PASSWORD in result.output
    workspace = db_session.scalar(select(Workspace).where(Workspace.slug == "acme-plants"))
    assert workspace.name == "Acme Plants"

    assert count(db_session, Response.id) == 2000
    rollup = db_session.scalar(select(func.sum(StageDailyStat.responses)))
    assert rollup == 2000
    sent = count(db_session, Invitation.id, Invitation.sent_at.is_not(None))
    assert db_session.scalar(select(func.sum(StageDailyStat.invitations_sent))) == sent
    assert count(db_session, Invitation.id, Invitation.status == "answered") == 2000
    assert sent > 2000  # some were never answered

    per_stage = dict(
        db_session.execute(
            select(Stage.key, func.count(Response.id))
            .join(Response, Response.stage_id == Stage.id)
            .group_by(Stage.key)
        ).all()
    )
    assert set(per_stage) == {"awareness", "consideration", "purchase", "retention", "advocacy"}
    assert all(n > 100 for n in per_stage.values())

    submitted = list(db_session.scalars(select(Response.submitted_at)))
    assert max(submitted) <= utcnow()
    assert (max(submitted) - min(submitted)).days >= 330
    today = local_day(utcnow(), workspace.timezone)
    year = journey_summary(db_session, workspace.id, today - dt.timedelta(days=364), today)
    worst = min(year, key=lambda s: s.mean_sentiment)
    assert worst.stage.key == "retention"
    month = journey_summary(db_session, workspace.id, today - dt.timedelta(days=29), today)
    by_key = {s.stage.key: s for s in month}
    # The eleven months before, not just the one: a month holds some fifty retention
    # answers, too few for their mean to sit reliably below the better last month's.
    before = {
        s.stage.key: s
        for s in journey_summary(
            db_session,
            workspace.id,
            today - dt.timedelta(days=364),
            today - dt.timedelta(days=30),
        )
    }
    assert by_key["retention"].mean_sentiment > before["retention"].mean_sentiment

    opted_in = count(db_session, Response.id, Response.testimonial_opt_in.is_(True))
    assert opted_in > 20
    assert count(db_session, Testimonial.id) == opted_in
    assert count(db_session, Response.id, Response.follow_up_state == "open") > 0
    assert count(db_session, Response.id, Response.follow_up_state == "resolved") > 0

    # Logged in as the owner, the dashboard shows the workspace.
    auth.login(OWNER, PASSWORD)
    page = client.get("/dashboard")
    assert page.status_code == 200 and "Acme Plants" in page.text


def test_bulk_rows_hold_what_the_services_would_have_written(runner, db_session):
    assert bulk_demo(runner, responses=600).exit_code == 0
    now = utcnow()
    scales = dict(db_session.execute(select(Stage.id, Stage.scale)).all())
    for response in db_session.scalars(select(Response)):
        invitation = db_session.get(Invitation, response.invitation_id)
        assert invitation.contact_id == response.contact_id
        assert invitation.stage_id == response.stage_id
        assert invitation.answered_at == response.submitted_at
        assert invitation.sent_at < invitation.opened_at < response.submitted_at
        if response.comment is None:
            assert response.sentiment_label is None and not response.testimonial_opt_in
        else:
            score = sentiment.score(response.comment)
            assert (response.sentiment_compound, response.sentiment_label) == (
                score.compound,
                score.label,
            )
        unhappy = is_unhappy(scales[response.stage_id], response.rating, response.sentiment_label)
        assert (response.follow_up_state != "none") == unhappy
        if response.follow_up_state == "open":
            assert now - response.submitted_at < dt.timedelta(days=10)
        if response.follow_up_state == "resolved":
            assert response.submitted_at < response.resolved_at <= now
            assert response.resolution_note and response.assignee_id is not None
    for testimonial in db_session.scalars(select(Testimonial)):
        workspace = db_session.get(Workspace, testimonial.workspace_id)
        assert testimonial.consent_text == workspace.consent_text
        assert testimonial.consented_at == testimonial.response.submitted_at
        assert testimonial.show_name == (testimonial.display_name is not None)
    tokens = list(db_session.scalars(select(Invitation.token_hash)))
    assert len(set(tokens)) == len(tokens)
    assert all(len(t) == 64 and int(t, 16) >= 0 for t in tokens)


def test_a_rerun_leaves_an_existing_workspace_unless_told_to_add(runner, db_session):
    assert bulk_demo(runner, responses=300).exit_code == 0
    again = bulk_demo(runner, responses=300, owner_flag="--email")
    assert again.exit_code == 0, again.output
    assert "already exists (300 responses); left as it is" in again.output
    assert "--add" in again.output
    assert count(db_session, Response.id) == 300

    more = bulk_demo(runner, "--add", responses=200)
    assert more.exit_code == 0, more.output
    assert count(db_session, Response.id) == 500
    assert db_session.scalar(select(func.sum(StageDailyStat.responses))) == 500
    assert count(db_session, Invitation.id, Invitation.status == "answered") == 500


def test_demo_options_that_do_not_fit_are_explained(runner, db_session):
    cases = [
        (["--responses", "6000"], "at most 5,000"),
        (["--add"], "--add needs --workspace"),
        (["--workspace", "Acme Plants"], "not a slug"),
        (["--workspace", "acme", "--password", "short"], "at least 10 characters"),
    ]
    for args, message in cases:
        result = runner.invoke(args=["feedback", "demo", *args])
        assert result.exit_code != 0
        assert message in result.output
    assert count(db_session, Workspace.id) == 0


def test_after_a_bulk_load_the_schema_and_the_app_carry_on_as_before(runner, db_session):
    from sqlalchemy import inspect

    from feedback.surveys import services as surveys

    tables = ("contact", "invitation", "response", "testimonial")

    def foreign_keys() -> dict[str, list]:
        inspector = inspect(db_session.connection())
        return {t: sorted(str(fk) for fk in inspector.get_foreign_keys(t)) for t in tables}

    before = foreign_keys()
    db_session.commit()
    assert bulk_demo(runner, responses=300).exit_code == 0
    assert foreign_keys() == before
    # New rows take ids after the bulk-loaded ones (PostgreSQL: the sequences moved on).
    workspace = db_session.scalar(select(Workspace))
    issued = surveys.invite(
        db_session,
        workspace,
        stage_key="purchase",
        touchpoint_key="checkout",
        email="new@example.com",
        now=utcnow(),
    )
    db_session.commit()
    assert issued.invitation.id > max(
        db_session.scalars(select(Invitation.id).where(Invitation.id != issued.invitation.id))
    )
