"""The follow-up services: the queue, assigning, notes, resolving, and the per-stage counts."""

from __future__ import annotations

import datetime as dt

import pytest

from feedback.accounts.models import Membership
from feedback.accounts.services import members_of
from feedback.followups import services
from feedback.followups.services import (
    FollowUpNotFound,
    InvalidNote,
    UnknownAssignee,
    WrongState,
    add_note,
    assign_follow_up,
    cursor_kinds,
    follow_up_counts,
    follow_ups_page,
    reopen_follow_up,
    resolve_follow_up,
    unassign_member,
)
from feedback.journey.models import Stage
from feedback.paging import Cursor, decode_cursor
from tests.factories import NOW, add_member, make_owner, make_response, make_workspace, unhappy

HOUR = dt.timedelta(hours=1)


def ids(page: services.FollowUpsPage) -> list[int]:
    return [item.response.id for item in page.items]


def stage(session, workspace, key: str) -> Stage:
    return next(s for s in services.stages_of(session, workspace.id) if s.key == key)


def test_an_unhappy_answer_is_on_the_open_queue_and_a_happy_one_is_not(db_session):
    workspace = make_workspace(db_session)
    sad = unhappy(db_session, workspace)
    make_response(db_session, workspace, rating=5, comment="Lovely")
    page = follow_ups_page(db_session, workspace.id, NOW)
    assert ids(page) == [sad.id] and page.total == 1
    [item] = page.items
    assert item.response.follow_up_due_at == NOW + dt.timedelta(hours=24)
    assert (item.overdue, item.due_text) == (False, "Due in 24 h")


def test_the_open_queue_puts_the_longest_overdue_first_and_says_by_how_much(db_session):
    workspace = make_workspace(db_session)
    fresh = unhappy(db_session, workspace, now=NOW - HOUR)
    oldest = unhappy(db_session, workspace, now=NOW - 30 * HOUR)
    older = unhappy(db_session, workspace, now=NOW - 24 * HOUR - dt.timedelta(minutes=40))
    page = follow_ups_page(db_session, workspace.id, NOW)
    assert ids(page) == [oldest.id, older.id, fresh.id]
    assert [(i.overdue, i.due_text) for i in page.items] == [
        (True, "Overdue by 6 h"),
        (True, "Overdue by 40 min"),
        (False, "Due in 23 h"),
    ]
    late = NOW + 3 * 24 * HOUR
    assert follow_ups_page(db_session, workspace.id, late).items[0].due_text == "Overdue by 3 d"


def test_each_filter_picks_its_follow_ups(db_session):
    owner, workspace = make_owner(db_session)
    overdue = unhappy(db_session, workspace, now=NOW - 30 * HOUR)
    mine = unhappy(db_session, workspace, now=NOW - HOUR)
    theirs = unhappy(db_session, workspace, now=NOW - HOUR)
    done = unhappy(db_session, workspace, now=NOW - 2 * HOUR)
    colleague = add_member(db_session, workspace, "colleague@example.com")
    assign_follow_up(db_session, workspace.id, mine.id, owner.id)
    assign_follow_up(db_session, workspace.id, theirs.id, colleague.id)
    resolve_follow_up(db_session, workspace.id, done.id, NOW)
    db_session.commit()

    def shown(show: str) -> list[int]:
        return ids(follow_ups_page(db_session, workspace.id, NOW, show=show, user_id=owner.id))

    assert shown("open") == [overdue.id, mine.id, theirs.id]
    assert shown("overdue") == [overdue.id]
    assert shown("mine") == [mine.id]
    assert shown("resolved") == [done.id]
    assert shown("all") == [overdue.id, mine.id, theirs.id, done.id]
    with pytest.raises(ValueError):
        follow_ups_page(db_session, workspace.id, NOW, show="everything")


def test_the_stage_filter_combines_with_the_others_and_with_pagination(db_session):
    workspace = make_workspace(db_session)
    purchase = [unhappy(db_session, workspace, now=NOW - 30 * HOUR) for _ in range(27)]
    unhappy(db_session, workspace, now=NOW - HOUR)  # purchase, not overdue
    retention = unhappy(
        db_session,
        workspace,
        now=NOW - 30 * HOUR,
        stage="retention",
        touchpoint="onboarding-complete",
    )
    key = stage(db_session, workspace, "purchase")
    first = follow_ups_page(db_session, workspace.id, NOW, show="overdue", stage=key)
    assert (first.total, len(first.items), first.newer) == (27, 25, None)
    kinds = cursor_kinds("overdue")
    second = follow_ups_page(
        db_session,
        workspace.id,
        NOW,
        show="overdue",
        stage=key,
        cursor=Cursor(decode_cursor(first.older, kinds)),
    )
    assert (len(second.items), second.older) == (2, None) and second.newer is not None
    assert set(ids(first) + ids(second)) == {r.id for r in purchase}
    assert retention.id not in ids(first) + ids(second)
    back = follow_ups_page(
        db_session,
        workspace.id,
        NOW,
        show="overdue",
        stage=key,
        cursor=Cursor(decode_cursor(second.newer, kinds), backwards=True),
    )
    assert ids(back) == ids(first)


def test_the_all_tab_pages_from_the_open_ones_into_the_resolved_ones_and_back(db_session):
    workspace = make_workspace(db_session)
    opened = [unhappy(db_session, workspace, now=NOW - n * HOUR) for n in range(5)]
    resolved = [unhappy(db_session, workspace, now=NOW - 40 * HOUR) for _ in range(4)]
    for n, response in enumerate(resolved):
        resolve_follow_up(db_session, workspace.id, response.id, NOW - n * HOUR)
    kinds = cursor_kinds("all")
    pages, cursor = [], None
    while True:
        page = follow_ups_page(db_session, workspace.id, NOW, show="all", cursor=cursor, per_page=2)
        pages.append(ids(page))
        if page.older is None:
            break
        cursor = Cursor(decode_cursor(page.older, kinds))
    # Open ones earliest due first (the oldest answer first), then the latest resolved first.
    expected = [r.id for r in reversed(opened)] + [r.id for r in resolved]
    assert [i for p in pages for i in p] == expected and page.total == 9
    # Back from the last page, across the border between the two parts.
    back = follow_ups_page(
        db_session,
        workspace.id,
        NOW,
        show="all",
        cursor=Cursor(decode_cursor(page.newer, kinds), backwards=True),
        per_page=2,
    )
    assert ids(back) == pages[-2]


def test_assigning_takes_members_of_the_workspace_only(db_session):
    owner, workspace = make_owner(db_session)
    outsider, _ = make_owner(db_session)
    response = unhappy(db_session, workspace)
    member = add_member(db_session, workspace, "member@example.com")
    assign_follow_up(db_session, workspace.id, response.id, member.id)
    db_session.commit()
    assert response.assignee_id == member.id
    for stranger in (outsider.id, 999_999):
        with pytest.raises(UnknownAssignee):
            assign_follow_up(db_session, workspace.id, response.id, stranger)
        db_session.rollback()
    assign_follow_up(db_session, workspace.id, response.id, None)
    db_session.commit()
    assert response.assignee_id is None
    assert [u.email for u in members_of(db_session, workspace.id)] == sorted(
        [owner.email, "member@example.com"]
    )


def test_unassigning_a_member_leaves_their_follow_ups_here_open_and_elsewhere_theirs(db_session):
    _, workspace = make_owner(db_session)
    _, other = make_owner(db_session)
    member = add_member(db_session, workspace, "member@example.com")
    db_session.add(Membership(workspace_id=other.id, user_id=member.id, role="member"))
    mine, resolved, elsewhere = (unhappy(db_session, w) for w in (workspace, workspace, other))
    for response in (mine, resolved, elsewhere):
        assign_follow_up(db_session, response.workspace_id, response.id, member.id)
    resolve_follow_up(db_session, workspace.id, resolved.id, NOW, note="Called back.")
    db_session.commit()
    assert unassign_member(db_session, workspace.id, member.id) == 2
    db_session.commit()
    db_session.expire_all()
    assert [(r.follow_up_state, r.assignee_id) for r in (mine, resolved, elsewhere)] == [
        ("open", None),
        ("resolved", None),
        ("open", member.id),
    ]


def test_notes_are_appended_with_their_time_and_author_and_kept_as_typed(db_session):
    workspace = make_workspace(db_session)
    response = unhappy(db_session, workspace)
    add_note(db_session, workspace.id, response.id, "Called, no answer.", NOW, author="a@x.example")
    later = NOW + 2 * HOUR
    typed = "  <b>Refund</b> sent\r\n\r\nwith a\x00 sorry note  "
    add_note(db_session, workspace.id, response.id, typed, later, author="b@x.example")
    db_session.commit()
    notes = services.get_follow_up(db_session, workspace.id, response.id, NOW).notes
    assert [(n.at, n.author, n.text) for n in notes] == [
        (NOW, "a@x.example", "Called, no answer."),
        (later, "b@x.example", "<b>Refund</b> sent\n\nwith a sorry note"),
    ]
    assert response.follow_up_state == "open"


def test_a_note_over_the_limit_or_empty_is_refused_and_changes_nothing(db_session):
    workspace = make_workspace(db_session)
    response = unhappy(db_session, workspace)
    add_note(db_session, workspace.id, response.id, "First call done.", NOW)
    db_session.commit()
    before = response.resolution_note
    for bad in ("x" * 2001, "  \n\t ", None):
        with pytest.raises(InvalidNote):
            add_note(db_session, workspace.id, response.id, bad, NOW)
        db_session.rollback()
    assert response.resolution_note == before
    # The limit counts a typed line break once, however the browser sent it.
    add_note(db_session, workspace.id, response.id, "a\r\n" + "b" * 1998, NOW)
    db_session.commit()
    assert response.resolution_note.endswith("a\n" + "b" * 1998)


def test_resolving_records_the_time_and_the_closing_note_and_only_once(db_session):
    workspace = make_workspace(db_session)
    response = unhappy(db_session, workspace)
    later = NOW + HOUR
    resolve_follow_up(db_session, workspace.id, response.id, later, note="Refunded.", author="a@x")
    db_session.commit()
    assert (response.follow_up_state, response.resolved_at) == ("resolved", later)
    assert response.resolution_note.endswith("Refunded.")
    with pytest.raises(WrongState):
        resolve_follow_up(db_session, workspace.id, response.id, later + HOUR)
    db_session.rollback()
    assert response.resolved_at == later


def test_a_too_long_closing_note_leaves_the_follow_up_open(db_session):
    workspace = make_workspace(db_session)
    response = unhappy(db_session, workspace)
    with pytest.raises(InvalidNote):
        resolve_follow_up(db_session, workspace.id, response.id, NOW, note="x" * 2001)
    db_session.rollback()
    assert (response.follow_up_state, response.resolution_note) == ("open", None)


def test_reopening_clears_the_resolution_and_keeps_the_due_time_and_notes(db_session):
    workspace = make_workspace(db_session)
    response = unhappy(db_session, workspace)
    due = response.follow_up_due_at
    resolve_follow_up(db_session, workspace.id, response.id, NOW, note="Sorted.")
    db_session.commit()
    with pytest.raises(WrongState):
        reopen_follow_up(db_session, workspace.id, unhappy(db_session, workspace).id)
    db_session.rollback()
    reopen_follow_up(db_session, workspace.id, response.id)
    db_session.commit()
    assert (response.follow_up_state, response.resolved_at) == ("open", None)
    assert response.follow_up_due_at == due and response.resolution_note.endswith("Sorted.")


def test_another_workspaces_follow_ups_are_out_of_reach(db_session):
    _, mine = make_owner(db_session)
    other = make_workspace(db_session)
    theirs = unhappy(db_session, other)
    happy = make_response(db_session, mine, rating=5)
    assert follow_ups_page(db_session, mine.id, NOW, show="all").total == 0
    for response_id in (theirs.id, happy.id, 999_999):
        for action in (
            lambda rid: services.get_follow_up(db_session, mine.id, rid, NOW),
            lambda rid: assign_follow_up(db_session, mine.id, rid, None),
            lambda rid: add_note(db_session, mine.id, rid, "hello", NOW),
            lambda rid: resolve_follow_up(db_session, mine.id, rid, NOW),
            lambda rid: reopen_follow_up(db_session, mine.id, rid),
        ):
            with pytest.raises(FollowUpNotFound):
                action(response_id)
            db_session.rollback()
    db_session.refresh(theirs)
    assert (theirs.follow_up_state, theirs.resolution_note) == ("open", None)


def test_follow_up_counts_give_open_and_overdue_per_stage_of_one_workspace(db_session):
    workspace = make_workspace(db_session)
    other = make_workspace(db_session)
    for _ in range(2):
        unhappy(db_session, workspace, now=NOW - 30 * HOUR)
    unhappy(db_session, workspace, now=NOW - HOUR)
    resolved = unhappy(db_session, workspace, now=NOW - 30 * HOUR)
    resolve_follow_up(db_session, workspace.id, resolved.id, NOW)
    unhappy(db_session, workspace, now=NOW - HOUR, stage="advocacy", touchpoint="renewal", rating=3)
    unhappy(db_session, other, now=NOW - 30 * HOUR)
    db_session.commit()
    purchase = stage(db_session, workspace, "purchase")
    advocacy = stage(db_session, workspace, "advocacy")
    assert follow_up_counts(db_session, workspace.id, NOW) == {
        purchase.id: (3, 2),
        advocacy.id: (1, 0),
    }
    assert follow_up_counts(db_session, make_workspace(db_session).id, NOW) == {}


def test_an_owner_starts_a_follow_up_on_an_answer_that_did_not_get_one(db_session):
    workspace = make_workspace(db_session)
    # "Delivery was slow" scores neutral: VADER does not know "slow".
    response = make_response(db_session, workspace, rating=4, comment="Delivery was slow.")
    assert response.follow_up_state == "none"
    started = services.start_follow_up(db_session, workspace.id, response.id, NOW, 24)
    db_session.commit()
    assert (started.follow_up_state, started.follow_up_due_at) == (
        "open",
        NOW + dt.timedelta(hours=24),
    )
    with pytest.raises(services.WrongState, match="has a follow-up already"):
        services.start_follow_up(db_session, workspace.id, response.id, NOW, 24)
    other = make_workspace(db_session)
    theirs = make_response(db_session, other, rating=5)
    with pytest.raises(services.FollowUpNotFound):
        services.start_follow_up(db_session, workspace.id, theirs.id, NOW, 24)
    assert services.follow_up_counts(db_session, workspace.id, NOW)[response.stage_id] == (1, 0)
