"""Recording testimonial consent exactly as the customer saw it."""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from sqlalchemy.orm import Session

from feedback.db import insert_complete_row
from feedback.surveys.models import Response
from feedback.testimonials.models import Testimonial


class ConsentSource(Protocol):
    """What consent is recorded from: a workspace, or the copy a survey link carries."""

    id: int
    consent_text: str
    consent_version: int


def consent_text_for(workspace: ConsentSource) -> str:
    """The consent text the form shows; the same string is stored on the record."""
    return workspace.consent_text


def record_consent(
    session: Session,
    workspace: ConsentSource,
    response: Response,
    display_name: str | None,
    now: dt.datetime,
) -> Testimonial:
    """The consent record for a response whose customer ticked "you may quote me"."""
    testimonial = Testimonial(
        workspace_id=workspace.id,
        response_id=response.id,
        display_name=display_name,
        show_name=display_name is not None,
        consent_text=consent_text_for(workspace),
        consent_version=workspace.consent_version,
        consented_at=now,
        status="pending",
        excerpt=None,
        approved_by_id=None,
        approved_at=None,
        withdrawn_at=None,
    )
    return insert_complete_row(session, testimonial)
