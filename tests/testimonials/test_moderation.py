"""Moderation services: the queue, suggestions, approve/reject/feature, excerpts, withdrawal."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from feedback.paging import Cursor, decode_cursor
from feedback.testimonials import services
from feedback.testimonials.models import TAG_MAX, Testimonial, TestimonialTag
from feedback.testimonials.services import (
    ExcerptError,
    ModerationError,
    TestimonialNotFound,
    WithdrawnTestimonial,
)
from feedback.testimonials.wall import valid_tag
from tests.factories import NOW, make_owner, make_workspace, opted_in

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
    for suggested_first in (False, True):
        seen, cursor, pages = [], None, []
        kinds = services.cursor_kinds("pending", suggested_first)
        while True:
            page = services.moderation_queue(
                db_session, ws.id, cursor=cursor, per_page=2, suggested_first=suggested_first
            )
            pages.append(page)
            seen += [t.id for t in page.items]
            if page.older is None:
                break
            cursor = Cursor(decode_cursor(page.older, kinds))
        assert len(pages) == 3 and len(set(seen)) == 5 == len(seen)
        assert pages[0].newer is None and pages[0].total == 5
        back = services.moderation_queue(
            db_session,
            ws.id,
            cursor=Cursor(decode_cursor(pages[-1].newer, kinds), backwards=True),
            per_page=2,
            suggested_first=suggested_first,
        )
        assert back.items == pages[1].items


def test_the_newest_tab_pages_by_consent_time_newest_first(db_session):
    ws = make_workspace(db_session)
    made = [
        opted_in(db_session, ws, f"Comment {n}", now=NOW + dt.timedelta(minutes=n))
        for n in range(3)
    ]
    first = services.moderation_queue(db_session, ws.id, "pending", per_page=2)
    assert [t.id for t in first.items] == [made[2].id, made[1].id]


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


# --- Tags and material connections ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "tag"),
    [
        ("Delivery", "delivery"),
        ("  fast   Delivery ", "fast-delivery"),
        ("next\tday", "next-day"),
        ("plants-2026", "plants-2026"),
        ("Café", "café"),
        ("\uff30\uff2c\uff21\uff2e\uff34\uff33", "plants"),  # full-width letters: ordinary ones
        ("x" * TAG_MAX, "x" * TAG_MAX),
    ],
)
def test_tags_are_trimmed_lowercased_and_spaces_become_dashes(raw, tag):
    assert services.normalise_tag(raw) == tag


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "can't be empty"),
        ("   ", "can't be empty"),
        ("x" * (TAG_MAX + 1), f"at most {TAG_MAX} characters"),
        ("a_b", "letters, digits and '-'"),
        ("<script>", "letters, digits and '-'"),
        ("free!", "letters, digits and '-'"),
        ("a,b", "letters, digits and '-'"),
        ("--", "letters, digits and '-'"),
    ],
)
def test_bad_tags_are_refused_with_a_message_saying_why(raw, message):
    with pytest.raises(ModerationError, match=message):
        services.normalise_tag(raw)


@given(st.text(max_size=60))
def test_any_accepted_tag_is_stable_and_fits_the_public_tag_filter(raw):
    try:
        tag = services.normalise_tag(raw)
    except ModerationError:
        return
    assert services.normalise_tag(tag) == tag
    assert 1 <= len(tag) <= TAG_MAX
    # The wall's ?tag= filter must accept every tag the inbox can store.
    assert valid_tag(tag)


def test_set_tags_replaces_the_set_and_drops_duplicates(db_session):
    ws = make_workspace(db_session)
    t = opted_in(db_session, ws, "Nice")
    services.set_tags(db_session, ws.id, t.id, ["Delivery", "plants", "delivery "])
    db_session.commit()
    assert [tag.tag for tag in t.tags] == ["delivery", "plants"]
    services.set_tags(db_session, ws.id, t.id, ["plants", "Gift Wrap"])
    db_session.commit()
    assert [tag.tag for tag in t.tags] == ["gift-wrap", "plants"]
    services.set_tags(db_session, ws.id, t.id, [])
    db_session.commit()
    assert t.tags == []
    assert db_session.scalars(select(TestimonialTag)).all() == []


def test_more_than_ten_tags_are_refused_and_nothing_changes(db_session):
    ws = make_workspace(db_session)
    t = opted_in(db_session, ws, "Nice")
    services.set_tags(db_session, ws.id, t.id, ["kept"])
    db_session.commit()
    with pytest.raises(ModerationError, match="At most 10 tags"):
        services.set_tags(db_session, ws.id, t.id, [f"t{i}" for i in range(11)])
    db_session.rollback()
    assert [tag.tag for tag in t.tags] == ["kept"]
    # Ten distinct after normalising is fine, duplicates do not count twice.
    services.set_tags(db_session, ws.id, t.id, [f"T{i}" for i in range(10)] + ["t0"])
    assert len(t.tags) == 10


def test_the_inbox_can_be_narrowed_to_one_tag(db_session):
    ws = make_workspace(db_session)
    tagged = opted_in(db_session, ws, "Tagged")
    opted_in(db_session, ws, "Untagged")
    services.set_tags(db_session, ws.id, tagged.id, ["delivery"])
    db_session.commit()
    for suggested_first in (True, False):
        page = services.moderation_queue(
            db_session, ws.id, tag="delivery", suggested_first=suggested_first
        )
        assert [t.id for t in page.items] == [tagged.id] and page.total == 1


def test_tags_and_connections_of_another_workspaces_testimonial_are_not_found(db_session):
    mine, theirs = make_workspace(db_session), make_workspace(db_session)
    t = opted_in(db_session, theirs, "Theirs")
    with pytest.raises(TestimonialNotFound):
        services.set_tags(db_session, mine.id, t.id, ["x"])
    with pytest.raises(TestimonialNotFound):
        services.set_material_connection(db_session, mine.id, t.id, "gifted")


def test_a_material_connection_is_one_of_four_or_none(db_session):
    ws = make_workspace(db_session)
    t = opted_in(db_session, ws, "Nice")
    services.set_material_connection(db_session, ws.id, t.id, "gifted")
    assert t.disclosure == "Received a free product or service"
    with pytest.raises(ModerationError, match="employee, gifted, incentive, relative"):
        services.set_material_connection(db_session, ws.id, t.id, "friend")
    services.set_material_connection(db_session, ws.id, t.id, "")
    assert t.material_connection is None and t.disclosure is None


@pytest.mark.parametrize(
    ("days", "text"), [(730, "2 years"), (365, "1 year"), (90, "90 days"), (1, "1 day")]
)
def test_the_age_limit_reads_in_years_when_it_is_whole_years(days, text):
    assert services.age_limit_text(days) == text


def test_the_age_limit_must_be_from_1_to_3650_days(db_session):
    ws = make_workspace(db_session)
    for bad in (0, -1, 3651, None):
        with pytest.raises(ModerationError, match="from 1 to 3650"):
            services.set_max_age_days(db_session, ws, bad)
    services.set_max_age_days(db_session, ws, 365)
    assert ws.testimonial_max_age_days == 365


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("consent_text", "Something the customer never saw."),
        ("consent_version", 9),
        ("consented_at", NOW + dt.timedelta(days=1)),
        ("display_name", "Someone else"),
        ("show_name", False),
        ("display_role", "CEO"),
        ("channels", "website social print"),
    ],
)
def test_the_database_refuses_to_edit_what_the_customer_agreed_to(
    db_session, column: str, value: object
):
    testimonial = opted_in(db_session, make_workspace(db_session), display_name="Ann")
    db_session.commit()
    table = Testimonial.__table__
    with pytest.raises(DBAPIError, match="never edited"):
        db_session.execute(
            sa.update(table).where(table.c.id == testimonial.id).values({column: value})
        )
    db_session.rollback()


def test_moderation_withdrawal_and_reconfirmation_still_update_the_record(db_session):
    ws = make_workspace(db_session)
    testimonial = opted_in(db_session, ws)
    services.approve(db_session, ws.id, testimonial.id, None, NOW)
    services.set_excerpt(db_session, ws.id, testimonial.id, "Lovely plants…")
    services.set_material_connection(db_session, ws.id, testimonial.id, "gifted")
    testimonial.reconfirmed_at = NOW + dt.timedelta(days=1)
    services.withdraw_on_request(db_session, ws.id, testimonial.id, NOW + dt.timedelta(days=2))
    db_session.commit()
    db_session.expire_all()
    stored = db_session.get(Testimonial, testimonial.id)
    assert (stored.status, stored.excerpt, stored.material_connection) == (
        "approved",
        "Lovely plants…",
        "gifted",
    )
    assert stored.withdrawn_at == NOW + dt.timedelta(days=2)
