"""The owners' digest of new unhappy answers, through the outbox."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from feedback.db import utcnow
from feedback.delivery.models import OutboxMessage
from feedback.followups.services import (
    DIGEST_LIST_MAX,
    queue_follow_up_digests,
    resolve_follow_up,
)
from tests.factories import (
    add_member,
    make_owner,
    make_response,
    make_workspace,
    unhappy,
    unhappy_open_link,
)
from tests.support.smtp import SmtpServer

BASE = "https://feedback.example.com"
MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)


def digests(session) -> list[OutboxMessage]:
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.dedupe_key.like("follow-up-digest:%"))
            .order_by(OutboxMessage.id)
        )
    )


def test_the_digest_emails_each_owner_once_with_the_new_unhappy_answers(db_session):
    owner, workspace = make_owner(db_session, "Acme Plants")
    second_owner = add_member(db_session, workspace, "partner@example.com", role="owner")
    add_member(db_session, workspace, "helper@example.com", role="member")
    start = utcnow()
    sad = unhappy(db_session, workspace, now=start, comment="The pot arrived broken.")
    anonymous = unhappy_open_link(db_session, workspace, now=start)
    make_response(db_session, workspace, rating=5, comment="Lovely", now=start)

    assert queue_follow_up_digests(db_session, start + 10 * MINUTE, base_url=BASE) == 2
    db_session.commit()
    messages = digests(db_session)
    assert sorted(m.payload["to"] for m in messages) == sorted([owner.email, second_owner.email])
    payload = messages[0].payload
    assert payload["subject"] == "Acme Plants: 2 new unhappy answers to follow up"
    for body in (payload["text"], payload["html"]):
        assert "Purchase decision" in body and "1/5" in body
        assert "The pot arrived broken." in body and "Rude staff" in body
        assert f"{BASE}/follow-ups/{sad.id}" in body
        assert f"{BASE}/follow-ups/{anonymous.id}" in body
    assert "Lovely" not in payload["text"]

    # Nothing new: a second run, now or hours later, queues nothing.
    assert queue_follow_up_digests(db_session, start + 11 * MINUTE, base_url=BASE) == 0
    assert queue_follow_up_digests(db_session, start + 5 * HOUR, base_url=BASE) == 0
    db_session.commit()
    assert len(digests(db_session)) == 2


def test_new_unhappy_answers_wait_for_the_hourly_limit_and_come_alone(db_session):
    _, workspace = make_owner(db_session)
    start = utcnow()
    unhappy(db_session, workspace, now=start, comment="First complaint")
    assert queue_follow_up_digests(db_session, start + 10 * MINUTE, base_url=BASE) == 1
    db_session.commit()
    second = unhappy(db_session, workspace, now=start + 20 * MINUTE, comment="Second complaint")
    assert queue_follow_up_digests(db_session, start + 40 * MINUTE, base_url=BASE) == 0
    assert queue_follow_up_digests(db_session, start + 69 * MINUTE, base_url=BASE) == 0
    assert queue_follow_up_digests(db_session, start + 70 * MINUTE, base_url=BASE) == 1
    db_session.commit()
    latest = digests(db_session)[-1].payload
    assert "1 new unhappy answer to follow up" in latest["subject"]
    assert f"/follow-ups/{second.id}" in latest["text"]
    assert "First complaint" not in latest["text"] and "Second complaint" in latest["text"]


def test_answers_of_the_last_minutes_wait_for_the_next_round(db_session):
    _, workspace = make_owner(db_session)
    start = utcnow()
    unhappy(db_session, workspace, now=start)
    # Submitted a moment ago: the transaction that wrote it may not be visible everywhere yet.
    assert queue_follow_up_digests(db_session, start + MINUTE, base_url=BASE) == 0
    assert queue_follow_up_digests(db_session, start + 6 * MINUTE, base_url=BASE) == 1


def test_answers_resolved_before_the_digest_or_older_than_the_workspace_are_left_out(
    db_session,
):
    _, workspace = make_owner(db_session)
    start = utcnow()
    # Older than the workspace: imported history is not news.
    unhappy(db_session, workspace, now=start - 48 * HOUR)
    handled = unhappy(db_session, workspace, now=start)
    resolve_follow_up(db_session, workspace.id, handled.id, start + MINUTE)
    db_session.commit()
    assert queue_follow_up_digests(db_session, start + 10 * MINUTE, base_url=BASE) == 0


def test_a_workspace_without_owners_or_news_gets_no_digest(db_session):
    lonely = make_workspace(db_session)
    _, quiet = make_owner(db_session)
    start = utcnow()
    unhappy(db_session, lonely, now=start)
    make_response(db_session, quiet, rating=5, now=start)
    assert queue_follow_up_digests(db_session, start + 10 * MINUTE, base_url=BASE) == 0
    assert digests(db_session) == []


def test_the_digest_escapes_html_and_lists_at_most_twenty(db_session):
    _, workspace = make_owner(db_session, "Tom & Jerry's <Shop>")
    start = utcnow()
    unhappy(db_session, workspace, now=start, comment='<script>alert("x")</script> awful')
    for _ in range(DIGEST_LIST_MAX + 4):
        unhappy(db_session, workspace, now=start + MINUTE, comment=None)
    assert queue_follow_up_digests(db_session, start + 10 * MINUTE, base_url=BASE) == 1
    [message] = digests(db_session)
    html, text = message.payload["html"], message.payload["text"]
    assert "<script>" not in html and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "Tom &amp; Jerry&#39;s &lt;Shop&gt;" in html
    assert '<script>alert("x")</script> awful' in text  # plain text needs no escaping
    assert html.count("Open this follow-up") == DIGEST_LIST_MAX
    assert "…and 5 more." in html and "...and 5 more." in text
    assert message.payload["subject"].startswith("Tom & Jerry's <Shop>: 25 new")


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


def test_the_worker_queues_and_sends_the_digest(runner, app, db_session, smtp_server):
    owner, workspace = make_owner(db_session)
    workspace.created_at = utcnow() - HOUR
    db_session.commit()
    sad = unhappy(db_session, workspace, now=utcnow() - 10 * MINUTE)
    app.config["SMTP_URL"] = smtp_server.url
    result = runner.invoke(args=["feedback", "worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "queued 1 follow-up digests" in result.output
    [message] = smtp_server.inbox.messages
    assert message["To"] == owner.email
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    body = text.get_payload(decode=True).decode()
    assert f"{app.config['BASE_URL']}/follow-ups/{sad.id}" in body
