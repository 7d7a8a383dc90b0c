from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event, func, select

from feedback import answers
from feedback.insights.models import StageDailyStat
from feedback.insights.services import rebuild_rollups
from feedback.surveys import services
from feedback.surveys.models import Invitation, Response
from feedback.surveys.services import Answer
from feedback.testimonials.models import Testimonial
from tests.factories import NOW, link_of, make_invitation, make_response, make_workspace


def rollup_totals(session, workspace_id):
    row = session.execute(
        select(
            func.sum(StageDailyStat.responses),
            func.sum(StageDailyStat.invitations_sent),
            func.sum(StageDailyStat.rating_sum),
            func.sum(StageDailyStat.negative),
        ).where(StageDailyStat.workspace_id == workspace_id)
    ).one()
    return tuple(int(v or 0) for v in row)


def test_tokens_are_random_and_only_their_hash_is_stored(db_session):
    workspace = make_workspace(db_session)
    issued = make_invitation(db_session, workspace, sent=False)
    assert len(issued.token) >= 43  # 32 random bytes, base64url
    assert issued.invitation.token_hash == services.hash_token(issued.token)
    stored = db_session.execute(select(Invitation.__table__)).one()._mapping
    assert issued.token not in [str(v) for v in stored.values()]
    assert make_invitation(db_session, workspace).token != issued.token


def test_an_invitation_moves_queued_sent_opened_answered(db_session):
    workspace = make_workspace(db_session)
    issued = make_invitation(db_session, workspace, sent=False)
    invitation = issued.invitation
    assert invitation.status == "queued"
    answers.mark_sent(db_session, workspace, invitation, NOW)
    assert (invitation.status, invitation.sent_at) == ("sent", NOW)
    db_session.commit()
    services.open_link(db_session, link_of(db_session, issued), NOW + dt.timedelta(hours=1))
    db_session.refresh(invitation)
    assert (invitation.status, invitation.opened_at) == ("opened", NOW + dt.timedelta(hours=1))
    answers.submit_response(
        db_session, link_of(db_session, issued), Answer(rating=4), NOW + dt.timedelta(hours=2)
    )
    db_session.commit()
    db_session.refresh(invitation)
    assert invitation.status == "answered"
    assert invitation.answered_at == NOW + dt.timedelta(hours=2)


def test_invitations_expire_after_the_workspaces_ttl(db_session):
    workspace = make_workspace(db_session)
    workspace.invitation_ttl_days = 7
    issued = make_invitation(db_session, workspace)
    assert issued.invitation.expires_at == NOW + dt.timedelta(days=7)
    services.open_link(
        db_session, link_of(db_session, issued), NOW + dt.timedelta(days=6, hours=23)
    )
    with pytest.raises(services.InvitationExpired):
        services.open_link(db_session, link_of(db_session, issued), NOW + dt.timedelta(days=7))
    db_session.refresh(issued.invitation)
    assert issued.invitation.status == "expired"
    with pytest.raises(services.InvitationExpired):
        answers.submit_response(db_session, link_of(db_session, issued), Answer(rating=5), NOW)


def test_unknown_tokens_are_not_found(db_session):
    make_invitation(db_session, make_workspace(db_session))
    for token in ["", "x" * 101, services.new_token()]:
        with pytest.raises(services.InvitationNotFound):
            services.find_link(db_session, token)


def test_a_response_is_scored_and_counted_in_the_rollup(db_session):
    workspace = make_workspace(db_session)
    response = make_response(
        db_session, workspace, rating=2, comment="The plant arrived dead and nobody replied."
    )
    assert response.sentiment_label == "negative"
    assert response.sentiment_compound is not None and response.sentiment_compound <= -0.05
    assert response.sentiment_version.startswith("vader-")
    assert response.sentiment_pos is not None and response.sentiment_neg > 0
    assert rollup_totals(db_session, workspace.id) == (1, 1, 2, 1)


def test_a_response_without_a_comment_has_no_sentiment(db_session):
    workspace = make_workspace(db_session)
    for comment in (None, "   \n "):
        response = make_response(db_session, workspace, comment=comment)
        assert response.comment is None
        assert (response.sentiment_label, response.sentiment_compound) == (None, None)


@pytest.mark.parametrize(
    ("stage", "touchpoint", "good", "bad"),
    [("purchase", "checkout", [1, 5], [0, 6, -1]), ("advocacy", "renewal", [0, 10], [11, -1])],
)
def test_ratings_must_be_on_the_stages_scale(db_session, stage, touchpoint, good, bad):
    workspace = make_workspace(db_session)
    for rating in bad:
        issued = make_invitation(db_session, workspace, stage=stage, touchpoint=touchpoint)
        with pytest.raises(services.InvalidAnswer) as error:
            answers.submit_response(
                db_session, link_of(db_session, issued), Answer(rating=rating), NOW
            )
        assert error.value.field == "rating"
    for rating in good:
        response = make_response(
            db_session, workspace, stage=stage, touchpoint=touchpoint, rating=rating
        )
        assert response.rating == rating


def test_comments_over_the_limit_are_refused_and_control_characters_removed(db_session):
    workspace = make_workspace(db_session)
    issued = make_invitation(db_session, workspace)
    with pytest.raises(services.InvalidAnswer) as error:
        answers.submit_response(db_session, link_of(db_session, issued), Answer(5, "x" * 2001), NOW)
    assert error.value.field == "comment" and "2,000" in error.value.message
    response = make_response(
        db_session, workspace, comment="Grea\x00t \x1bservice\r\n" + "y" * 1980
    )
    assert response.comment == "Great service\n" + "y" * 1980


def test_opting_in_records_the_consent_text_verbatim(db_session):
    workspace = make_workspace(db_session, "Acme Plants")
    workspace.consent_text = "You may use my words <exactly> as written, v2."
    workspace.consent_version = 2
    response = make_response(db_session, workspace, opt_in=True, display_name="  Maria\nK.  ")
    testimonial = db_session.scalar(select(Testimonial))
    assert testimonial.response_id == response.id
    assert testimonial.consent_text == "You may use my words <exactly> as written, v2."
    assert testimonial.consent_version == 2
    assert testimonial.consented_at == NOW
    assert (testimonial.display_name, testimonial.show_name, testimonial.status) == (
        "Maria K.",
        True,
        "pending",
    )


def test_a_submit_hands_back_its_consent_without_another_query(db_session):
    workspace = make_workspace(db_session)
    issued = make_invitation(db_session, workspace, email="ana@example.com")
    link = link_of(db_session, issued)
    assert link.contact.email == "ana@example.com"
    answer = Answer(rating=5, comment="Great.", testimonial_opt_in=True, display_name="Ana")
    response = answers.submit_response(db_session, link, answer, NOW)
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(db_session.get_bind(), "before_cursor_execute", seen)
    try:
        testimonial = response.testimonial
    finally:
        event.remove(db_session.get_bind(), "before_cursor_execute", seen)
    assert statements == []
    assert testimonial is not None and testimonial.response_id == response.id
    db_session.commit()
    db_session.expire_all()
    assert response.testimonial.id == testimonial.id  # and it loads like any relationship


def test_an_opt_in_without_a_name_is_shown_as_a_verified_customer(db_session):
    workspace = make_workspace(db_session)
    make_response(db_session, workspace, opt_in=True, display_name=" ")
    testimonial = db_session.scalar(select(Testimonial))
    assert (testimonial.display_name, testimonial.show_name) == (None, False)
    assert testimonial.shown_name == "A verified customer"


def test_without_opt_in_no_consent_is_recorded_and_the_name_is_dropped(db_session):
    workspace = make_workspace(db_session)
    make_response(db_session, workspace, opt_in=False, display_name="Maria")
    assert db_session.scalar(select(func.count(Testimonial.id))) == 0


def test_a_second_submit_of_a_link_is_refused(db_session):
    workspace = make_workspace(db_session)
    issued = make_invitation(db_session, workspace)
    opened_before = link_of(db_session, issued)
    answers.submit_response(db_session, link_of(db_session, issued), Answer(rating=5), NOW)
    db_session.commit()
    # Opened after the answer: refused up front.
    with pytest.raises(services.AlreadyAnswered):
        answers.submit_response(db_session, link_of(db_session, issued), Answer(rating=1), NOW)
    # Opened before it (a second tab): refused when it tries to claim the invitation.
    with pytest.raises(services.AlreadyAnswered):
        answers.submit_response(db_session, opened_before, Answer(rating=1), NOW)
    db_session.rollback()
    assert db_session.scalar(select(func.count(Response.id))) == 1


def test_the_database_refuses_a_second_response_to_an_invitation(db_session):
    from sqlalchemy.exc import IntegrityError

    workspace = make_workspace(db_session)
    response = make_response(db_session, workspace)
    duplicate = Response(
        workspace_id=workspace.id,
        invitation_id=response.invitation_id,
        stage_id=response.stage_id,
        touchpoint_id=response.touchpoint_id,
        rating=3,
        submitted_at=NOW,
    )
    db_session.add(duplicate)
    with pytest.raises(IntegrityError):
        db_session.flush()
    db_session.rollback()


def test_the_database_refuses_a_response_pointing_at_another_workspaces_stage(db_session):
    from sqlalchemy.exc import IntegrityError

    mine = make_workspace(db_session)
    theirs = make_response(db_session, make_workspace(db_session))
    db_session.add(
        Response(
            workspace_id=mine.id,
            stage_id=theirs.stage_id,
            touchpoint_id=theirs.touchpoint_id,
            rating=3,
            submitted_at=NOW,
        )
    )
    with pytest.raises(IntegrityError):
        db_session.flush()
    db_session.rollback()


def test_an_unhappy_answer_opens_a_follow_up_due_within_the_sla(db_session):
    workspace = make_workspace(db_session)
    workspace.follow_up_sla_hours = 8
    low = make_response(db_session, workspace, rating=2, comment=None)
    negative = make_response(db_session, workspace, rating=4, comment="Awful, rude and broken.")
    happy = make_response(db_session, workspace, rating=5, comment="Lovely!")
    assert (low.follow_up_state, low.follow_up_due_at) == ("open", NOW + dt.timedelta(hours=8))
    assert negative.follow_up_state == "open"
    assert (happy.follow_up_state, happy.follow_up_due_at) == ("none", None)


def test_rescore_redoes_old_scores_and_rebuilds_the_rollup(db_session):
    workspace = make_workspace(db_session)
    good = make_response(db_session, workspace, comment="Wonderful, friendly and helpful!")
    make_response(db_session, workspace, comment=None)
    before = rollup_totals(db_session, workspace.id)
    good.sentiment_compound, good.sentiment_label, good.sentiment_version = (
        -0.9,
        "negative",
        "vader-0.1",
    )
    db_session.commit()
    changed = services.rescore_responses(db_session)
    rebuild_rollups(db_session, workspace.id, workspace.timezone)
    db_session.commit()
    assert changed == {workspace.id: 1}
    assert good.sentiment_label == "positive" and good.sentiment_version != "vader-0.1"
    assert rollup_totals(db_session, workspace.id) == before
    assert services.rescore_responses(db_session) == {}
    assert services.rescore_responses(db_session, everything=True) == {workspace.id: 1}
