from __future__ import annotations

from sqlalchemy import func, select

from feedback.accounts.models import Workspace
from feedback.accounts.services import team_of
from feedback.db import utcnow
from feedback.demo import DEMO_EMAIL, DEMO_PASSWORD
from feedback.insights.services import journey_summary, local_day
from feedback.surveys.models import Invitation, Response
from feedback.testimonials import wall
from feedback.testimonials.models import Testimonial
from tests.factories import make_response, make_workspace


def test_create_owner_makes_a_workspace_with_a_slug_from_its_name(runner, db_session):
    result = runner.invoke(
        args=[
            "feedback",
            "create-owner",
            "me@example.com",
            "--password",
            "long enough pw",
            "--workspace",
            "Acme Plants",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "acme-plants" in result.output
    assert db_session.scalar(select(Workspace.slug)) == "acme-plants"


def test_create_owner_explains_a_bad_password(runner):
    result = runner.invoke(
        args=[
            "feedback",
            "create-owner",
            "me@example.com",
            "--password",
            "short",
            "--workspace",
            "X",
        ]
    )
    assert result.exit_code != 0
    assert "at least 10 characters" in result.output


def invite_args(*extra: str, **options: str) -> list[str]:
    """`feedback invite` for acme-plants' purchase checkout, options overridable by name."""
    values = {
        "workspace": "acme-plants",
        "stage": "purchase",
        "touchpoint": "checkout",
        "email": "a@example.com",
        **options,
    }
    args = ["feedback", "invite"]
    for name, value in values.items():
        args += [f"--{name}", value]
    return args + list(extra)


def test_invite_prints_a_working_survey_link(runner, client, db_session):
    make_workspace(db_session, "Acme Plants")
    result = runner.invoke(
        args=invite_args(
            stage="retention",
            touchpoint="support-ticket-solved",
            email="Jo@Example.com",
            name="Jo",
        )
    )
    assert result.exit_code == 0, result.output
    url = result.output.strip().splitlines()[-1]
    assert url.startswith("http://localhost/s/")
    page = client.get(url.removeprefix("http://localhost"))
    assert page.status_code == 200
    assert "help you have had from Acme Plants" in page.text
    invitation = db_session.scalar(select(Invitation))
    assert invitation.status == "opened" and invitation.sent_at is not None


def test_invite_explains_unknown_workspace_stage_touchpoint_and_email(runner, db_session):
    make_workspace(db_session, "Acme Plants")
    cases = [
        ({"workspace": "nope"}, "No workspace"),
        ({"stage": "nope"}, "No active stage 'nope'"),
        ({"touchpoint": "renewal"}, "No touchpoint 'renewal'"),
        ({"email": "not-an-email"}, "not a valid email"),
    ]
    for override, message in cases:
        result = runner.invoke(args=invite_args(**override))
        assert result.exit_code != 0
        assert message in result.output
    assert db_session.scalar(select(func.count(Invitation.id))) == 0


def test_demo_builds_a_workspace_whose_dashboard_tells_a_story(runner, db_session):
    result = runner.invoke(args=["feedback", "demo"])
    assert result.exit_code == 0, result.output
    assert DEMO_EMAIL in result.output and DEMO_PASSWORD in result.output
    workspace = db_session.scalar(select(Workspace))
    responses = db_session.scalar(select(func.count(Response.id)))
    assert responses == 400
    assert db_session.scalar(select(func.count(Invitation.id))) > responses
    assert db_session.scalar(select(func.count(Testimonial.id))) > 20
    days = {d.date() for d in db_session.scalars(select(Response.submitted_at))}
    assert (max(days) - min(days)).days >= 80
    today = local_day(utcnow(), workspace.timezone)
    summaries = journey_summary(db_session, workspace.id, today.replace(year=today.year - 1), today)
    by_key = {s.stage.key: s for s in summaries}
    assert all(s.responses > 30 for s in summaries)
    worst = min(summaries, key=lambda s: s.mean_sentiment)
    assert worst.stage.key == "retention"
    assert all(by_key[k].mean_sentiment > 0.3 for k in ("awareness", "purchase", "advocacy"))
    # The owner has curated the opt-ins: a wall with featured quotes, tags and one disclosure.
    shown = wall.shown_testimonials(db_session, workspace.id)
    assert 10 <= len(shown) <= 15
    assert [t.featured for t in shown[:3]] == [True, True, True]
    assert len({t.quote for t in shown}) == len(shown)
    assert all(t.stars >= 4 for t in shown)
    assert sum(1 for t in shown if t.disclosure) == 1
    assert len(wall.shown_tags(db_session, workspace.id)) >= 3
    statuses = set(db_session.scalars(select(Testimonial.status)))
    assert statuses == {"pending", "approved", "featured", "rejected"}
    team = {m.user.email: m.role for m in team_of(db_session, workspace.id)}
    assert team == {DEMO_EMAIL: "owner", "sam@greenleaf.example": "member"}
    again = runner.invoke(args=["feedback", "demo"])
    assert again.exit_code == 0 and "already exists" in again.output
    assert db_session.scalar(select(func.count(Response.id))) == 400


def test_rescore_reports_what_it_changed(runner, db_session):
    workspace = make_workspace(db_session)
    response = make_response(db_session, workspace, comment="Brilliant!")
    response.sentiment_version = "vader-0.0"
    db_session.commit()
    result = runner.invoke(args=["feedback", "rescore"])
    assert result.exit_code == 0, result.output
    assert "Rescored 1 responses in 1 workspaces." in result.output
    db_session.expire_all()
    assert db_session.get(Response, response.id).sentiment_version != "vader-0.0"


def test_invite_send_queues_the_email_for_the_worker(runner, db_session):
    from feedback.delivery.models import OutboxMessage

    make_workspace(db_session, "Acme Plants")
    result = runner.invoke(args=invite_args("--send", email="jo@example.com"))
    assert result.exit_code == 0, result.output
    assert "Queued the survey email to jo@example.com." in result.output
    message = db_session.scalar(select(OutboxMessage))
    assert message.payload["to"] == "jo@example.com" and message.status == "pending"
    assert db_session.scalar(select(Invitation.status)) == "queued"


def test_invite_refuses_an_unsubscribed_customer(runner, db_session):
    from feedback.surveys.services import find_or_create_contact, unsubscribe

    workspace = make_workspace(db_session, "Acme Plants")
    unsubscribe(
        db_session, find_or_create_contact(db_session, workspace.id, "jo@example.com"), utcnow()
    )
    db_session.commit()
    result = runner.invoke(args=invite_args(email="jo@example.com"))
    assert result.exit_code != 0 and "unsubscribed" in result.output
