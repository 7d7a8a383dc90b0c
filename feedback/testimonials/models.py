"""Testimonial consent records: what a customer agreed to, verbatim, and when."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from feedback.db import WorkspaceOwned, intpk, same_workspace_fk
from feedback.extensions import db
from feedback.surveys.models import DISPLAY_NAME_MAX, Response

TESTIMONIAL_STATUSES = ("pending", "approved", "rejected", "featured")


class Testimonial(WorkspaceOwned, db.Model):
    """A customer's "you may quote me", with the consent text exactly as shown.

    The consent fields are written once when the customer submits and never
    edited; the original comment stays on the response, untouched.
    """

    __tablename__ = "testimonial"
    __table_args__ = (
        UniqueConstraint("workspace_id", "response_id"),
        same_workspace_fk("response_id", "response"),
        CheckConstraint(f"status IN {TESTIMONIAL_STATUSES!r}", name="status_known"),
        CheckConstraint("consent_version > 0", name="consent_version_positive"),
        Index("ix_testimonial_workspace_status", "workspace_id", "status"),
    )

    id: Mapped[intpk]
    response_id: Mapped[int]
    display_name: Mapped[str | None] = mapped_column(String(DISPLAY_NAME_MAX))
    show_name: Mapped[bool]
    consent_text: Mapped[str] = mapped_column(Text)
    consent_version: Mapped[int]
    consented_at: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(10), default="pending")
    excerpt: Mapped[str | None] = mapped_column(Text)
    approved_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    approved_at: Mapped[dt.datetime | None]
    withdrawn_at: Mapped[dt.datetime | None]

    response: Mapped[Response] = relationship(
        primaryjoin="Response.id == Testimonial.response_id", foreign_keys="Testimonial.response_id"
    )

    @property
    def shown_name(self) -> str:
        return self.display_name if self.show_name and self.display_name else "A verified customer"
