"""The customer's side of a testimonial consent: links to see, withdraw or re-confirm it.

A consent link is the only key a customer has (no login), so its token is
random (256 bits) and only its SHA-256 is stored, as for survey links. Every
message that carries one gets its own row; all stay valid, so an old email
still withdraws. The outbox drops these emails' text once they are sent or
give up; an owner's Retry makes them again with a fresh link
(`remake_confirmation_email`, `remake_reconfirmation_email`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from feedback.accounts.models import User, Workspace
from feedback.accounts.services import members_of
from feedback.db import workspace_scoped
from feedback.delivery.emails import Email, compose
from feedback.delivery.services import NotRetryable, enqueue_emails
from feedback.journey.models import Stage
from feedback.surveys.models import CHANNEL_LABELS, Contact, Response
from feedback.surveys.services import hash_token, new_token
from feedback.testimonials.models import SHOWN_STATUSES, ConsentLink, Testimonial
from feedback.testimonials.services import TestimonialNotFound, get_testimonial

# Enough of the comment for an owner to recognise it in the notification.
NOTICE_EXCERPT = 300
TOKEN_MAX = 100


class ConsentNotFound(LookupError):
    """No consent behind this token (mistyped, truncated, or never issued)."""


class ReconfirmationError(Exception):
    """An owner's request for re-confirmation that cannot be sent; the message says why."""


class ConsentWithdrawn(Exception):
    """The customer withdrew this consent; it cannot be re-confirmed."""


@dataclass(frozen=True)
class Quoted:
    """What the consent emails speak of: the business, the record and the answer it quotes.

    Right after a submit these are the workspace and stage the survey link
    loaded with it, so the emails need no further query.
    """

    workspace: Workspace
    testimonial: Testimonial
    response: Response
    stage: Stage


@dataclass(frozen=True)
class Consent(Quoted):
    """What a consent link opens: the record, its business, and the answer it quotes."""

    @property
    def status(self) -> str:
        """withdrawn, pending (not yet reviewed), shown or not_shown."""
        return consent_status(self.testimonial)


def consent_status(testimonial: Testimonial) -> str:
    """The customer's view of the moderation state: withdrawn, pending, shown or not_shown."""
    if testimonial.withdrawn_at is not None:
        return "withdrawn"
    if testimonial.status == "pending":
        return "pending"
    if testimonial.status in SHOWN_STATUSES:
        return "shown"
    return "not_shown"


def channels_text(testimonial: Testimonial) -> str:
    """ "on our website and on social media", in CHANNELS order."""
    labels = [CHANNEL_LABELS[channel] for channel in testimonial.channel_list]
    if len(labels) <= 1:
        return "".join(labels)
    return ", ".join(labels[:-1]) + " and " + labels[-1]


def consent_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/consent/{token}"


def issue_consent_link(session: Session, testimonial: Testimonial, now: dt.datetime) -> str:
    """A new link for the customer to see and withdraw this consent; returns the raw token.

    The raw token exists only in the return value (and the message that
    carries it); the database keeps its SHA-256.
    """
    return issue_consent_links(session, testimonial, now, 1)[0]


def issue_consent_links(
    session: Session, testimonial: Testimonial, now: dt.datetime, count: int
) -> list[str]:
    """`count` new links to this consent, one per message that will carry one, in one INSERT."""
    tokens = [new_token() for _ in range(count)]
    session.connection().execute(
        _INSERT_CONSENT_LINK,
        [
            {
                "workspace_id": testimonial.workspace_id,
                "testimonial_id": testimonial.id,
                "token_hash": hash_token(token),
                "created_at": now,
            }
            for token in tokens
        ],
    )
    return tokens


_INSERT_CONSENT_LINK = ConsentLink.__table__.insert()


def find_consent(session: Session, token: str) -> Consent:
    """The consent behind a raw token, or ConsentNotFound."""
    if not token or len(token) > TOKEN_MAX:
        raise ConsentNotFound(token)
    link = session.scalar(select(ConsentLink).where(ConsentLink.token_hash == hash_token(token)))
    if link is None:
        raise ConsentNotFound(token)
    testimonial = session.scalars(
        workspace_scoped(
            select(Testimonial)
            .options(joinedload(Testimonial.response).joinedload(Response.stage))
            .where(Testimonial.id == link.testimonial_id),
            link.workspace_id,
        )
    ).one_or_none()
    workspace = session.get(Workspace, link.workspace_id)
    if testimonial is None or workspace is None:
        raise ConsentNotFound(token)
    return Consent(workspace, testimonial, testimonial.response, testimonial.response.stage)


def withdraw(session: Session, consent: Consent, now: dt.datetime) -> Testimonial:
    """The customer withdraws: never shown again from now on, kept on record.

    Withdrawing twice keeps the first time, which is the one that counts.
    """
    testimonial = consent.testimonial
    if testimonial.withdrawn_at is None:
        testimonial.withdrawn_at = now
        session.flush()
    return testimonial


def may_reconfirm(consent: Consent, now: dt.datetime) -> bool:
    """Whether to ask "still happy for us to quote you?": old enough, and not withdrawn."""
    return consent.testimonial.withdrawn_at is None and consent.testimonial.is_stale(
        now, consent.workspace.testimonial_max_age_days
    )


def reconfirm(session: Session, consent: Consent, now: dt.datetime) -> Testimonial:
    """The customer says the quote still stands; raises ConsentWithdrawn once withdrawn.

    Accepted whenever it is asked for, stale or not: an owner may ask before
    the workspace's limit, and a customer standing by their words is never wrong.
    """
    testimonial = consent.testimonial
    if testimonial.withdrawn_at is not None:
        raise ConsentWithdrawn("This consent was withdrawn, so it can no longer be confirmed.")
    testimonial.reconfirmed_at = now
    session.flush()
    return testimonial


# --- Emails ---------------------------------------------------------------------------------


def _consent_context(consent: Quoted, link: str) -> dict[str, Any]:
    return {
        "workspace": consent.workspace,
        "testimonial": consent.testimonial,
        "response": consent.response,
        "stage": consent.stage,
        "channels": channels_text(consent.testimonial),
        "link": link,
    }


def confirmation_email(consent: Quoted, to: str, token: str, *, base_url: str) -> Email:
    """The customer's copy of what they agreed to, with a link to withdraw it."""
    return compose(
        "consent-confirmation",
        to=to,
        data=_consent_context(consent, consent_url(base_url, token)),
        base_url=base_url,
        sent_as=consent.workspace,
        dedupe_key=f"consent-confirmation:{consent.testimonial.id}",
        meta={"testimonial_id": consent.testimonial.id},
        remake={"email": "consent-confirmation", "testimonial_id": consent.testimonial.id},
    )


def _excerpt(comment: str | None) -> str | None:
    if not comment:
        return None
    text = " ".join(comment.split())
    return text if len(text) <= NOTICE_EXCERPT else text[: NOTICE_EXCERPT - 1].rstrip() + "…"


def owner_notices(consent: Quoted, owners: Sequence[User], *, base_url: str) -> list[Email]:
    """One email per member: a new "you may quote me" is waiting for review."""
    if not owners:
        return []
    notice = compose(
        "opt-in-notice",
        to=owners[0].email,
        data={
            "workspace": consent.workspace,
            "testimonial": consent.testimonial,
            "response": consent.response,
            "stage": consent.stage,
            "excerpt": _excerpt(consent.response.comment),
            "channels": channels_text(consent.testimonial),
            "review_link": f"{base_url.rstrip('/')}/testimonials",
        },
        base_url=base_url,
        meta={"testimonial_id": consent.testimonial.id},
        # Its only link is the owners' review page: kept if it gives up, for a Retry.
        links=False,
    )
    # Rendered once: every member gets the same words.
    return [
        replace(
            notice,
            to=owner.email,
            dedupe_key=f"opt-in-notice:{consent.testimonial.id}:{owner.id}",
        )
        for owner in owners
    ]


def after_opt_in(
    session: Session,
    response: Response,
    workspace: Workspace,
    stage: Stage,
    customer_email: str | None,
    *,
    base_url: str,
    now: dt.datetime,
) -> str | None:
    """Everything a new opt-in sets off, in the response's own transaction.

    A consent link for the thanks page (its raw token is returned), the
    customer's confirmation email to `customer_email` with a second link of its
    own (personal links only: open-link answers have no address), and a notice
    to every member of the workspace. `workspace` and `stage` are the
    response's, as the submit had them. Returns None when the response recorded
    no consent.
    """
    testimonial = response.testimonial
    if testimonial is None:
        return None
    quoted = Quoted(workspace, testimonial, response, stage)
    # One link for the thanks page, one for the confirmation email (if any).
    tokens = issue_consent_links(session, testimonial, now, 2 if customer_email else 1)
    emails = owner_notices(quoted, members_of(session, workspace.id), base_url=base_url)
    if customer_email:
        emails.insert(0, confirmation_email(quoted, customer_email, tokens[1], base_url=base_url))
    enqueue_emails(session, workspace.id, emails, now)
    return tokens[0]


def request_reconfirmation(
    session: Session,
    workspace: Workspace,
    testimonial_id: int,
    now: dt.datetime,
    *,
    base_url: str | None = None,
) -> None:
    """Email the customer a fresh consent link asking them to re-confirm or withdraw.

    Raises TestimonialNotFound for another workspace's id, ReconfirmationError
    for a withdrawn testimonial or one without an address to write to (an
    open-link answer). `base_url` defaults to the app's BASE_URL.
    """
    testimonial = get_testimonial(session, workspace.id, testimonial_id)
    base = base_url or current_app.config["BASE_URL"]
    email = reconfirmation_email(session, workspace, testimonial, now, base_url=base)
    enqueue_emails(session, workspace.id, [email], now)


def reconfirmation_email(
    session: Session,
    workspace: Workspace,
    testimonial: Testimonial,
    now: dt.datetime,
    *,
    base_url: str,
) -> Email:
    """The email asking the customer to re-confirm or withdraw, with a fresh consent link.

    ReconfirmationError for a withdrawn testimonial or one without an address.
    """
    if testimonial.withdrawn_at is not None:
        raise ReconfirmationError(
            "The customer withdrew this consent, so there is nothing to re-confirm."
        )
    response = testimonial.response
    contact = session.get(Contact, response.contact_id) if response.contact_id else None
    if contact is None or not contact.email:
        raise ReconfirmationError(
            "This answer came through an open link, so there is no email address to ask."
        )
    token = issue_consent_link(session, testimonial, now)
    consent = Consent(workspace, testimonial, response, response.stage)
    # ?ask=1 makes the page offer "keep showing it" even before the quote is stale.
    return compose(
        "consent-reconfirmation",
        to=contact.email,
        data={
            **_consent_context(consent, consent_url(base_url, token) + "?ask=1"),
            "contact": contact,
        },
        base_url=base_url,
        sent_as=workspace,
        # No dedupe key: an owner may ask again later, and each request is its own email.
        meta={"testimonial_id": testimonial.id, "reconfirmation": True},
        remake={"email": "consent-reconfirmation", "testimonial_id": testimonial.id},
    )


# --- Retry of an email that gave up (see delivery.services.REMAKERS) -------------------------


def _remade_for(
    session: Session, workspace_id: int, reference: dict[str, object]
) -> tuple[Workspace, Testimonial]:
    testimonial_id = reference.get("testimonial_id")
    workspace = session.get(Workspace, workspace_id)
    if not isinstance(testimonial_id, int) or isinstance(testimonial_id, bool) or not workspace:
        raise NotRetryable("The testimonial this email spoke of no longer exists.")
    try:
        testimonial = get_testimonial(session, workspace_id, testimonial_id)
    except TestimonialNotFound:
        raise NotRetryable("The testimonial this email spoke of no longer exists.") from None
    if testimonial.withdrawn_at is not None:
        raise NotRetryable("The customer has withdrawn this consent since.")
    return workspace, testimonial


def remake_confirmation_email(
    session: Session,
    workspace_id: int,
    reference: dict[str, object],
    now: dt.datetime,
    *,
    base_url: str,
    secret_key: str,
) -> Email:
    """The customer's copy of their consent again, with a fresh consent link.

    The first link's row stays (consent links are one per message and all
    valid), but its raw token went nowhere and is kept nowhere.
    """
    workspace, testimonial = _remade_for(session, workspace_id, reference)
    response = testimonial.response
    contact = session.get(Contact, response.contact_id) if response.contact_id else None
    if contact is None or not contact.email:
        raise NotRetryable("This answer has no email address to write to.")
    token = issue_consent_link(session, testimonial, now)
    quoted = Quoted(workspace, testimonial, response, response.stage)
    return confirmation_email(quoted, contact.email, token, base_url=base_url)


def remake_reconfirmation_email(
    session: Session,
    workspace_id: int,
    reference: dict[str, object],
    now: dt.datetime,
    *,
    base_url: str,
    secret_key: str,
) -> Email:
    """The request to re-confirm again, with a fresh consent link."""
    workspace, testimonial = _remade_for(session, workspace_id, reference)
    try:
        return reconfirmation_email(session, workspace, testimonial, now, base_url=base_url)
    except ReconfirmationError as error:
        raise NotRetryable(str(error)) from None
