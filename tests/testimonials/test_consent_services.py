"""Consent links and what a customer (or an owner, for them) can do with a consent."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from feedback.delivery.models import OutboxMessage
from feedback.testimonials import consent
from feedback.testimonials.models import ConsentLink, Testimonial
from feedback.testimonials.services import TestimonialNotFound
from tests.factories import NOW, make_response, make_workspace, open_link_testimonial, opted_in

LATER = NOW + dt.timedelta(days=3)


def outbox_emails(session: Session) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "email")))


def test_a_consent_link_is_random_and_only_its_sha256_is_stored(db_session: Session) -> None:
    testimonial = opted_in(db_session, make_workspace(db_session))
    first = consent.issue_consent_link(db_session, testimonial, NOW)
    second = consent.issue_consent_link(db_session, testimonial, NOW)
    db_session.commit()
    assert first != second and len(first) >= 22  # >= 128 bits, URL-safe base64
    stored = list(db_session.scalars(select(ConsentLink.token_hash)))
    assert sorted(stored) == sorted(hashlib.sha256(t.encode()).hexdigest() for t in (first, second))
    # Every link stays valid: an old email still withdraws.
    for token in (first, second):
        assert consent.find_consent(db_session, token).testimonial.id == testimonial.id


@pytest.mark.parametrize("token", ["", "nope", "x" * 101, "../../etc", "\x00"])
def test_an_unknown_or_garbage_token_finds_nothing(db_session: Session, token: str) -> None:
    consent.issue_consent_link(db_session, opted_in(db_session, make_workspace(db_session)), NOW)
    with pytest.raises(consent.ConsentNotFound):
        consent.find_consent(db_session, token)


def test_withdrawing_twice_keeps_the_first_time(db_session: Session) -> None:
    testimonial = opted_in(db_session, make_workspace(db_session))
    given = consent.find_consent(
        db_session, consent.issue_consent_link(db_session, testimonial, NOW)
    )
    consent.withdraw(db_session, given, NOW)
    consent.withdraw(db_session, given, LATER)
    db_session.commit()
    db_session.expire_all()
    assert db_session.get(Testimonial, testimonial.id).withdrawn_at == NOW  # type: ignore[union-attr]
    assert consent.consent_status(given.testimonial) == "withdrawn"


def test_the_status_a_customer_sees_follows_moderation(db_session: Session) -> None:
    testimonial = opted_in(db_session, make_workspace(db_session))
    seen = {}
    for status in ("pending", "approved", "featured", "rejected"):
        testimonial.status = status
        seen[status] = consent.consent_status(testimonial)
    assert seen == {
        "pending": "pending",
        "approved": "shown",
        "featured": "shown",
        "rejected": "not_shown",
    }


def test_a_stale_consent_may_be_reconfirmed_a_withdrawn_one_may_not(db_session: Session) -> None:
    workspace = make_workspace(db_session)
    workspace.testimonial_max_age_days = 30
    testimonial = opted_in(db_session, workspace)
    given = consent.find_consent(
        db_session, consent.issue_consent_link(db_session, testimonial, NOW)
    )
    assert not consent.may_reconfirm(given, NOW + dt.timedelta(days=29))
    stale = NOW + dt.timedelta(days=31)
    assert consent.may_reconfirm(given, stale)
    consent.reconfirm(db_session, given, stale)
    assert testimonial.reconfirmed_at == stale and not consent.may_reconfirm(given, stale)
    consent.withdraw(db_session, given, stale)
    with pytest.raises(consent.ConsentWithdrawn):
        consent.reconfirm(db_session, given, stale)
    assert not consent.may_reconfirm(given, stale + dt.timedelta(days=400))


def test_channels_read_as_a_sentence(db_session: Session) -> None:
    workspace = make_workspace(db_session)
    assert consent.channels_text(opted_in(db_session, workspace)) == "on our website"
    everywhere = opted_in(db_session, workspace, channels="website social print")
    assert consent.channels_text(everywhere) == (
        "on our website, on social media and in print and advertising"
    )


def test_after_opt_in_does_nothing_for_an_answer_without_consent(db_session: Session) -> None:
    workspace = make_workspace(db_session)
    response = make_response(db_session, workspace, opt_in=False)
    stage = response.stage
    assert (
        consent.after_opt_in(
            db_session, response, workspace, stage, "c@example.com", base_url="http://x", now=NOW
        )
        is None
    )
    assert db_session.scalar(select(ConsentLink)) is None and outbox_emails(db_session) == []


def test_an_owner_request_emails_the_customer_a_fresh_working_link(db_session: Session) -> None:
    workspace = make_workspace(db_session, "Greenleaf Plants")
    testimonial = opted_in(db_session, workspace, "Ferns <3", display_name="<i>Cara</i>")
    consent.request_reconfirmation(
        db_session, workspace, testimonial.id, LATER, base_url="https://fb.example"
    )
    db_session.commit()
    [message] = outbox_emails(db_session)
    payload = message.payload
    assert payload["to"] == testimonial.response.contact.email  # type: ignore[union-attr]
    assert "may we still quote you" in payload["subject"]
    assert "Ferns <3" in payload["text"] and "Ferns &lt;3" in payload["html"]
    token = re.search(r"https://fb\.example/consent/([\w-]+)\?ask=1", payload["text"]).group(1)  # type: ignore[union-attr]
    assert consent.find_consent(db_session, token).testimonial.id == testimonial.id
    # Asking again later is its own email with its own link.
    consent.request_reconfirmation(
        db_session, workspace, testimonial.id, LATER, base_url="https://fb.example"
    )
    db_session.commit()
    assert len(outbox_emails(db_session)) == 2
    assert len(list(db_session.scalars(select(ConsentLink)))) == 2


def test_an_owner_cannot_ask_about_another_workspaces_testimonial(db_session: Session) -> None:
    mine, theirs = make_workspace(db_session), make_workspace(db_session)
    testimonial = opted_in(db_session, theirs)
    with pytest.raises(TestimonialNotFound):
        consent.request_reconfirmation(db_session, mine, testimonial.id, LATER, base_url="http://x")
    assert outbox_emails(db_session) == []


def test_a_withdrawn_or_open_link_testimonial_cannot_be_asked_about(db_session: Session) -> None:
    workspace = make_workspace(db_session)
    withdrawn = opted_in(db_session, workspace)
    withdrawn.withdrawn_at = NOW
    db_session.commit()
    with pytest.raises(consent.ReconfirmationError, match="withdrew"):
        consent.request_reconfirmation(db_session, workspace, withdrawn.id, LATER, base_url="h")
    anonymous = open_link_testimonial(db_session, workspace)
    with pytest.raises(consent.ReconfirmationError, match="open link"):
        consent.request_reconfirmation(db_session, workspace, anonymous.id, LATER, base_url="h")
    assert outbox_emails(db_session) == []
