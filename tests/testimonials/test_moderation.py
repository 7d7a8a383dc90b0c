"""Moderation services: the queue, suggestions, approve/reject/feature, excerpts, withdrawal."""

from __future__ import annotations

import datetime as dt

import pytest

from feedback.testimonials import services
from feedback.testimonials.services import (
    ExcerptError,
    TestimonialNotFound,
    WithdrawnTestimonial,
)
from tests.factories import NOW, make_owner, make_workspace
from tests.testimonials.moderation_helpers import opted_in

LATER = NOW + dt.timedelta(hours=1)
GOOD = (
    "The ferns arrived quickly, beautifully packed in recycled paper, and every single "
    "one was healthy and green. Brilliant service from a friendly team."
)


def consent_of(t):
    return (t.consent_text, t.consent_version, t.consented_at, t.display_name, t.show_name)


def test_pending_queue_is_newest_first_and_leaves_other_statuses_out(db_session):
    ws = make_workspace(db_session)
    old = opted_in(db_session, ws, "Old one", now=NOW - dt.timedelta(days=2))
    new = opted_in(db_session, ws, "New one", now=NOW)
    done = opted_in(db_session, ws, "Approved one", now=NOW - dt.timedelta(days=1))
    services.approve(db_session, ws.id, done.id, None, NOW)
    db_session.commit()
    page = services.moderation_queue(db_session, ws.id)
    assert [t.id for t in page.items] == [new.id, old.id]
    assert page.total == 2
    assert [t.id for t in services.moderation_queue(db_session, ws.id, "approved").items] == [
        done.id
    ]


def test_each_tab_holds_its_status_withdrawn_ones_only_under_withdrawn_and_all(db_session):
    ws = make_workspace(db_session)
    pending = opted_in(db_session, ws, "a")
    approved = opted_in(db_session, ws, "b")
    featured = opted_in(db_session, ws, "c")
    rejected = opted_in(db_session, ws, "d")
    gone = opted_in(db_session, ws, "e")
    services.approve(db_session, ws.id, approved.id, None, NOW)
    services.feature(db_session, ws.id, featured.id, None, NOW)
    services.reject(db_session, ws.id, rejected.id)
    services.approve(db_session, ws.id, gone.id, None, NOW)
    services.withdraw_on_request(db_session, ws.id, gone.id, LATER)
    db_session.commit()

    def ids(show):
        return {t.id for t in services.moderation_queue(db_session, ws.id, show).items}

    assert ids("pending") == {pending.id}
    assert ids("approved") == {approved.id}
    assert ids("featured") == {featured.id}
    assert ids("rejected") == {rejected.id}
    assert ids("withdrawn") == {gone.id}
    assert ids("all") == {pending.id, approved.id, featured.id, rejected.id, gone.id}


def test_the_queue_pages_through_many(db_session):
    ws = make_workspace(db_session)
    for n in range(5):
        opted_in(db_session, ws, f"Comment {n}", now=NOW + dt.timedelta(minutes=n))
    first = services.moderation_queue(db_session, ws.id, page=1, per_page=2)
    last = services.moderation_queue(db_session, ws.id, page=3, per_page=2)
    assert (first.pages, first.has_next, first.has_prev) == (3, True, False)
    assert len(last.items) == 1 and not last.has_next


def test_suggested_prefers_positive_specific_medium_length_high_rated_comments(db_session):
    ws = make_workspace(db_session)
    best = opted_in(db_session, ws, GOOD, rating=5, now=NOW - dt.timedelta(days=3))
    short = opted_in(db_session, ws, "Good.", rating=5, now=NOW)
    negative = opted_in(
        db_session,
        ws,
        "The ferns arrived late, badly packed, half of them dead and the rest brown. "
        "Terrible, awful service and nobody answered my emails.",
        rating=1,
        now=NOW - dt.timedelta(days=1),
    )
    ranked = services.suggested(db_session, ws.id)
    assert [t.id for t in ranked] == [best.id, short.id, negative.id]
    assert services.suggestion_score(best) > services.suggestion_score(short)
    assert 0 <= services.suggestion_score(negative) <= services.suggestion_score(best) <= 1
    page = services.moderation_queue(db_session, ws.id, suggested_first=True)
    assert [t.id for t in page.items] == [best.id, short.id, negative.id]


def test_the_rating_counts_on_its_own_scale(db_session):
    ws = make_workspace(db_session)
    csat_top = opted_in(db_session, ws, "Fine", rating=5, stage="purchase", touchpoint="checkout")
    nps_five = opted_in(db_session, ws, "Fine", rating=5, stage="advocacy", touchpoint="renewal")
    assert services.suggestion_score(csat_top) > services.suggestion_score(nps_five)


def test_a_very_long_comment_scores_lower_on_length_than_a_medium_one(db_session):
    ws = make_workspace(db_session)
    medium = opted_in(db_session, ws, GOOD)
    long = opted_in(db_session, ws, (GOOD + " ") * 8)
    assert services.suggestion_score(medium) > services.suggestion_score(long)


def test_approve_and_feature_record_who_and_when_and_featured_counts_as_shown(db_session):
    owner, ws = make_owner(db_session)
    t = opted_in(db_session, ws)
    services.approve(db_session, ws.id, t.id, owner.id, NOW)
    assert (t.status, t.approved_by_id, t.approved_at) == ("approved", owner.id, NOW)
    services.feature(db_session, ws.id, t.id, owner.id, LATER)
    db_session.commit()
    assert (t.status, t.approved_by_id, t.approved_at) == ("featured", owner.id, LATER)


def test_reject_clears_an_earlier_approval(db_session):
    owner, ws = make_owner(db_session)
    t = opted_in(db_session, ws)
    services.approve(db_session, ws.id, t.id, owner.id, NOW)
    services.reject(db_session, ws.id, t.id)
    db_session.commit()
    assert (t.status, t.approved_by_id, t.approved_at) == ("rejected", None, None)


def test_withdrawal_on_request_keeps_the_record_and_its_first_time(db_session):
    ws = make_workspace(db_session)
    t = opted_in(db_session, ws)
    consent = consent_of(t)
    services.withdraw_on_request(db_session, ws.id, t.id, NOW)
    services.withdraw_on_request(db_session, ws.id, t.id, LATER)
    db_session.commit()
    again = services.get_testimonial(db_session, ws.id, t.id)
    assert again.withdrawn_at == NOW
    assert consent_of(again) == consent


@pytest.mark.parametrize("action", [services.approve, services.feature])
def test_a_withdrawn_testimonial_cannot_be_approved_or_featured(db_session, action):
    ws = make_workspace(db_session)
    t = opted_in(db_session, ws)
    services.withdraw_on_request(db_session, ws.id, t.id, NOW)
    with pytest.raises(WithdrawnTestimonial, match="withdrew their consent"):
        action(db_session, ws.id, t.id, None, LATER)
    assert t.status == "pending"


def test_set_excerpt_keeps_a_valid_cut_refuses_a_changed_one_and_empty_clears(db_session):
    ws = make_workspace(db_session)
    t = opted_in(
        db_session, ws, "The plants arrived quickly and were healthy, but the box was damaged."
    )
    services.set_excerpt(db_session, ws.id, t.id, "The plants arrived quickly and were healthy...")
    assert t.excerpt == "The plants arrived quickly and were healthy…"
    with pytest.raises(ExcerptError):
        services.set_excerpt(db_session, ws.id, t.id, "The plants arrived perfectly")
    assert t.excerpt == "The plants arrived quickly and were healthy…"
    services.set_excerpt(db_session, ws.id, t.id, "  ")
    db_session.commit()
    assert t.excerpt is None
    assert t.response.comment.startswith("The plants arrived quickly")


def test_moderation_never_touches_the_consent_record(db_session):
    owner, ws = make_owner(db_session)
    t = opted_in(db_session, ws, "Great ferns, fast delivery.")
    consent = consent_of(t)
    services.approve(db_session, ws.id, t.id, owner.id, NOW)
    services.set_excerpt(db_session, ws.id, t.id, "Great ferns…")
    services.feature(db_session, ws.id, t.id, owner.id, NOW)
    services.reject(db_session, ws.id, t.id)
    services.withdraw_on_request(db_session, ws.id, t.id, NOW)
    db_session.commit()
    assert consent_of(t) == consent


def test_another_workspaces_testimonial_is_not_found_and_not_listed(db_session):
    mine = make_workspace(db_session)
    theirs = make_workspace(db_session)
    t = opted_in(db_session, theirs)
    for act in (
        lambda: services.get_testimonial(db_session, mine.id, t.id),
        lambda: services.approve(db_session, mine.id, t.id, None, NOW),
        lambda: services.feature(db_session, mine.id, t.id, None, NOW),
        lambda: services.reject(db_session, mine.id, t.id),
        lambda: services.set_excerpt(db_session, mine.id, t.id, "Lovely plants…"),
        lambda: services.withdraw_on_request(db_session, mine.id, t.id, NOW),
    ):
        with pytest.raises(TestimonialNotFound):
            act()
    assert services.moderation_queue(db_session, mine.id, "all").items == []
    assert services.suggested(db_session, mine.id) == []
    assert t.status == "pending" and t.withdrawn_at is None
