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
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from feedback.db import WorkspaceOwned, intpk, same_workspace_fk
from feedback.extensions import Model
from feedback.surveys.models import CHANNELS, DISPLAY_NAME_MAX, ROLE_MAX, Response

TESTIMONIAL_STATUSES = ("pending", "approved", "rejected", "featured")
# The statuses an owner has cleared for showing (wall, widget, feed, reuse, export).
SHOWN_STATUSES = ("approved", "featured")
# Ties the FTC asks to disclose next to an endorsement (16 CFR 255.5).
MATERIAL_CONNECTIONS = ("employee", "gifted", "incentive", "relative")
MATERIAL_CONNECTION_LABELS = {
    "employee": "Works for us",
    "gifted": "Received a free product or service",
    "incentive": "Received an incentive for this review",
    "relative": "A friend or relative of the business",
}
# Where a testimonial has been published, for following up a withdrawal.
USE_CHANNELS = ("wall", "embed", "feed", "export", "copy", "card")
TAG_MAX = 40


class Testimonial(WorkspaceOwned, Model):
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
        UniqueConstraint("workspace_id", "id"),
        CheckConstraint(
            f"material_connection IN {MATERIAL_CONNECTIONS!r}", name="material_connection_known"
        ),
        # The wall walks it newest first per status; counting shown ones reads it alone.
        Index(
            "ix_testimonial_workspace_status",
            "workspace_id",
            "status",
            "withdrawn_at",
            "consented_at",
        ),
        # The CSV export streams every testimonial newest first from this, without a sort.
        Index("ix_testimonial_workspace_consented", "workspace_id", "consented_at", "id"),
        Index(
            "ix_testimonial_workspace_status_consented",
            "workspace_id",
            "status",
            "consented_at",
            sqlite_where=text("withdrawn_at IS NULL"),
            postgresql_where=text("withdrawn_at IS NULL"),
        ),
        Index(
            "ix_testimonial_workspace_withdrawn_consented",
            "workspace_id",
            "consented_at",
            sqlite_where=text("withdrawn_at IS NOT NULL"),
            postgresql_where=text("withdrawn_at IS NOT NULL"),
        ),
    )

    id: Mapped[intpk]
    response_id: Mapped[int]
    display_name: Mapped[str | None] = mapped_column(String(DISPLAY_NAME_MAX))
    show_name: Mapped[bool]
    # Optional role or company, e.g. "Owner, Fern & Co" (shown only with the name).
    display_role: Mapped[str | None] = mapped_column(String(ROLE_MAX))
    # Space-separated CHANNELS the customer agreed to, as recorded at opt-in.
    channels: Mapped[str] = mapped_column(String(60), default="website", server_default="website")
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
    # The customer confirmed, after an owner asked, that the quote still stands.
    reconfirmed_at: Mapped[dt.datetime | None]
    # Set by the owner; prints a disclosure next to the quote wherever shown.
    material_connection: Mapped[str | None] = mapped_column(String(20))

    response: Mapped[Response] = relationship(
        primaryjoin="Response.id == Testimonial.response_id", foreign_keys="Testimonial.response_id"
    )

    tags: Mapped[list[TestimonialTag]] = relationship(
        primaryjoin="TestimonialTag.testimonial_id == Testimonial.id",
        foreign_keys="TestimonialTag.testimonial_id",
        order_by="TestimonialTag.tag",
        viewonly=True,
    )

    @property
    def shown_name(self) -> str:
        return self.display_name if self.show_name and self.display_name else "A verified customer"

    @property
    def shown_role(self) -> str | None:
        """The role/company goes with the name; without the name it could identify them."""
        return self.display_role if self.show_name and self.display_name else None

    @property
    def channel_list(self) -> list[str]:
        return [c for c in CHANNELS if c in self.channels.split()]

    @property
    def disclosure(self) -> str | None:
        if self.material_connection is None:
            return None
        return MATERIAL_CONNECTION_LABELS[self.material_connection]

    def confirmed_at(self) -> dt.datetime:
        """When the customer last stood behind these words."""
        return self.reconfirmed_at or self.consented_at

    def is_stale(self, now: dt.datetime, max_age_days: int) -> bool:
        """Older than the workspace's limit (counted from the consent or its re-confirmation)."""
        return now - self.confirmed_at() > dt.timedelta(days=max_age_days)

    def needs_reconfirmation(self, now: dt.datetime, max_age_days: int) -> bool:
        """Stale and still in play: a rejected or withdrawn one is not shown anyway."""
        return (
            self.status != "rejected"
            and self.withdrawn_at is None
            and self.is_stale(now, max_age_days)
        )


class TestimonialTag(WorkspaceOwned, Model):
    """An owner's label on a testimonial ("delivery", "plants"), for filtering walls and widgets."""

    __tablename__ = "testimonial_tag"
    __table_args__ = (
        UniqueConstraint("testimonial_id", "tag"),
        same_workspace_fk("testimonial_id", "testimonial"),
        CheckConstraint(f"length(tag) BETWEEN 1 AND {TAG_MAX}", name="tag_length"),
        Index("ix_testimonial_tag_workspace_tag", "workspace_id", "tag", "testimonial_id"),
        # One testimonial's tags (the export reads them row by row): without it SQLite
        # answers that from the index above, reading every tag of the workspace each time.
        Index("ix_testimonial_tag_workspace_testimonial", "workspace_id", "testimonial_id", "tag"),
    )

    id: Mapped[intpk]
    testimonial_id: Mapped[int]
    tag: Mapped[str] = mapped_column(String(TAG_MAX))


class ConsentLink(WorkspaceOwned, Model):
    """A link that lets the customer see and withdraw (or re-confirm) their consent.

    Only the SHA-256 of the token is kept. One per message that carried one:
    the thanks page, the confirmation email, each re-confirmation request; all
    stay valid, so an old email still withdraws.
    """

    __tablename__ = "consent_link"
    __table_args__ = (same_workspace_fk("testimonial_id", "testimonial"),)

    id: Mapped[intpk]
    testimonial_id: Mapped[int]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime]


class TestimonialUse(WorkspaceOwned, Model):
    """Where a testimonial has been published, first and last time seen there."""

    __tablename__ = "testimonial_use"
    __table_args__ = (
        UniqueConstraint("testimonial_id", "channel"),
        same_workspace_fk("testimonial_id", "testimonial"),
        CheckConstraint(f"channel IN {USE_CHANNELS!r}", name="channel_known"),
    )

    id: Mapped[intpk]
    testimonial_id: Mapped[int]
    channel: Mapped[str] = mapped_column(String(10))
    first_at: Mapped[dt.datetime]
    last_at: Mapped[dt.datetime]
