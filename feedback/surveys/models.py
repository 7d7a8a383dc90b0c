"""Contacts, their personal survey invitations, and the responses they give."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from feedback.accounts.models import Workspace
from feedback.db import WorkspaceOwned, created_at, intpk, same_workspace_fk, str120, str254
from feedback.extensions import Model
from feedback.journey.models import Stage, Touchpoint

if TYPE_CHECKING:
    from feedback.testimonials.models import Testimonial

INVITATION_STATUSES = (
    "queued",
    "sent",
    "opened",
    "answered",
    "expired",
    "throttled",
    "unsubscribed",
)
SENTIMENT_LABELS = ("positive", "neutral", "negative")
FOLLOW_UP_STATES = ("none", "open", "resolved")
COMMENT_MAX = 2000
DISPLAY_NAME_MAX = 80
# The opt-in's role or company, and where the words may be shown: asked on the
# survey form, kept on the testimonial.
ROLE_MAX = 80
# Where a customer may let the business show their words. The website (wall,
# widget, feed) comes with every opt-in; the others are ticked separately.
CHANNELS = ("website", "social", "print")
CHANNEL_LABELS = {
    "website": "on our website",
    "social": "on social media",
    "print": "in print and advertising",
}


class Contact(WorkspaceOwned, Model):
    """A customer of a workspace, known by a normalised email address."""

    __tablename__ = "contact"
    __table_args__ = (
        UniqueConstraint("workspace_id", "email"),
        UniqueConstraint("workspace_id", "id"),
        Index("ix_contact_workspace_external_id", "workspace_id", "external_id"),
    )

    id: Mapped[intpk]
    email: Mapped[str254]
    name: Mapped[str120 | None]
    external_id: Mapped[str120 | None]
    unsubscribed_at: Mapped[dt.datetime | None]
    created_at: Mapped[created_at]

    def __repr__(self) -> str:
        return f"<Contact {self.id}>"


class Invitation(WorkspaceOwned, Model):
    """A personal, single-use survey link for one stage, sent after a touchpoint.

    Only the SHA-256 of the token is stored; the link itself exists only in
    what was handed to the customer (the outbox drops it once the email is sent).
    """

    __tablename__ = "invitation"
    __table_args__ = (
        UniqueConstraint("workspace_id", "id"),
        UniqueConstraint("workspace_id", "event_id"),
        same_workspace_fk("contact_id", "contact"),
        same_workspace_fk("stage_id", "stage"),
        same_workspace_fk("touchpoint_id", "touchpoint"),
        CheckConstraint(f"status IN {INVITATION_STATUSES!r}", name="status_known"),
        CheckConstraint("length(token_hash) = 64", name="token_hash_is_sha256_hex"),
        CheckConstraint("reminder_count >= 0", name="reminder_count_not_negative"),
        Index("ix_invitation_workspace_contact_stage", "workspace_id", "contact_id", "stage_id"),
        Index("ix_invitation_workspace_status", "workspace_id", "status"),
        # A reminder's link is a token of its own, as globally unique as the first.
        Index("ix_invitation_reminder_token_hash", "reminder_token_hash", unique=True),
    )

    id: Mapped[intpk]
    contact_id: Mapped[int]
    stage_id: Mapped[int]
    touchpoint_id: Mapped[int]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The reminder's link (minted when the reminder is queued): either link
    # opens the invitation, and it is answered once.
    reminder_token_hash: Mapped[str | None] = mapped_column(String(64))
    event_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(12), default="queued")
    occurred_at: Mapped[dt.datetime | None]
    created_at: Mapped[created_at]
    sent_at: Mapped[dt.datetime | None]
    opened_at: Mapped[dt.datetime | None]
    answered_at: Mapped[dt.datetime | None]
    expires_at: Mapped[dt.datetime]
    reminder_count: Mapped[int] = mapped_column(default=0)

    workspace: Mapped[Workspace] = relationship(
        primaryjoin="Workspace.id == Invitation.workspace_id",
        foreign_keys="Invitation.workspace_id",
        viewonly=True,
    )
    contact: Mapped[Contact] = relationship(
        primaryjoin="Contact.id == Invitation.contact_id", foreign_keys="Invitation.contact_id"
    )
    stage: Mapped[Stage] = relationship(
        primaryjoin="Stage.id == Invitation.stage_id", foreign_keys="Invitation.stage_id"
    )
    touchpoint: Mapped[Touchpoint] = relationship(
        primaryjoin="Touchpoint.id == Invitation.touchpoint_id",
        foreign_keys="Invitation.touchpoint_id",
    )

    def __repr__(self) -> str:
        return f"<Invitation {self.id} {self.status}>"


class Response(WorkspaceOwned, Model):
    """A customer's answer: a rating, an optional comment and its sentiment."""

    __tablename__ = "response"
    __table_args__ = (
        # One response per invitation, enforced here and nowhere else.
        UniqueConstraint("workspace_id", "invitation_id"),
        # Open links have no invitation: a key in the form makes a double submit one response.
        UniqueConstraint("workspace_id", "submission_key"),
        UniqueConstraint("workspace_id", "id"),
        same_workspace_fk("invitation_id", "invitation"),
        same_workspace_fk("stage_id", "stage"),
        same_workspace_fk("touchpoint_id", "touchpoint"),
        same_workspace_fk("contact_id", "contact", ondelete=None),
        CheckConstraint("rating BETWEEN 0 AND 10", name="rating_in_range"),
        CheckConstraint(f"length(comment) <= {COMMENT_MAX}", name="comment_length"),
        CheckConstraint(
            f"sentiment_label IS NULL OR sentiment_label IN {SENTIMENT_LABELS!r}",
            name="sentiment_label_known",
        ),
        # A score exists exactly when there is a comment to score.
        CheckConstraint(
            "(comment IS NULL AND sentiment_label IS NULL AND sentiment_compound IS NULL)"
            " OR (comment IS NOT NULL AND sentiment_label IS NOT NULL"
            " AND sentiment_compound IS NOT NULL AND sentiment_version IS NOT NULL)",
            name="sentiment_iff_comment",
        ),
        CheckConstraint(f"follow_up_state IN {FOLLOW_UP_STATES!r}", name="follow_up_state_known"),
        Index("ix_response_workspace_submitted", "workspace_id", "submitted_at"),
        Index("ix_response_workspace_stage_submitted", "workspace_id", "stage_id", "submitted_at"),
        # A renamed contact's responses are re-indexed for search through this (the trigger
        # in the full-text search migration), and a contact's deletion checks it.
        Index("ix_response_workspace_contact", "workspace_id", "contact_id"),
        # Covers the follow-up counts per stage the dashboard reads: only the
        # open ones are visited, however many responses there are.
        Index(
            "ix_response_workspace_follow_up_stage",
            "workspace_id",
            "follow_up_state",
            "stage_id",
            "follow_up_due_at",
        ),
        # One per filter of the responses list, each in the list's order, so a
        # page (and the capped count) reads only matching index entries; and
        # one per order of the follow-up queue. SQLite appends the rowid (the
        # id) to every index, which makes each of them a full (key, id) order.
        Index(
            "ix_response_workspace_touchpoint_submitted",
            "workspace_id",
            "touchpoint_id",
            "submitted_at",
        ),
        Index(
            "ix_response_workspace_label_submitted",
            "workspace_id",
            "sentiment_label",
            "submitted_at",
        ),
        Index("ix_response_workspace_rating_submitted", "workspace_id", "rating", "submitted_at"),
        # Partial: only the few rows the filter keeps are indexed, so a submit
        # that is neither opted in nor a mismatch pays nothing for them.
        Index(
            "ix_response_workspace_opted_in_submitted",
            "workspace_id",
            "submitted_at",
            sqlite_where=text("testimonial_opt_in = 1"),
            postgresql_where=text("testimonial_opt_in"),
        ),
        Index(
            "ix_response_workspace_mismatch_submitted",
            "workspace_id",
            "submitted_at",
            sqlite_where=text("mismatch = 1"),
            postgresql_where=text("mismatch"),
        ),
        Index(
            "ix_response_workspace_follow_up_due",
            "workspace_id",
            "follow_up_state",
            "follow_up_due_at",
        ),
        Index(
            "ix_response_workspace_follow_up_resolved",
            "workspace_id",
            "follow_up_state",
            "resolved_at",
        ),
    )

    id: Mapped[intpk]
    invitation_id: Mapped[int | None]
    stage_id: Mapped[int]
    touchpoint_id: Mapped[int]
    contact_id: Mapped[int | None]
    submission_key: Mapped[str | None] = mapped_column(String(64))
    rating: Mapped[int]
    comment: Mapped[str | None] = mapped_column(Text)
    testimonial_opt_in: Mapped[bool] = mapped_column(default=False)
    sentiment_compound: Mapped[float | None] = mapped_column(Float)
    sentiment_pos: Mapped[float | None] = mapped_column(Float)
    sentiment_neu: Mapped[float | None] = mapped_column(Float)
    sentiment_neg: Mapped[float | None] = mapped_column(Float)
    sentiment_label: Mapped[str | None] = mapped_column(String(10))
    sentiment_version: Mapped[str | None] = mapped_column(String(40))
    # The rating and the comment's sentiment clearly disagree (journey.scales.is_mismatch),
    # stored when the answer is scored so the list can filter on it through an index.
    mismatch: Mapped[bool] = mapped_column(default=False, server_default=false())
    submitted_at: Mapped[dt.datetime]
    follow_up_state: Mapped[str] = mapped_column(String(10), default="none")
    follow_up_due_at: Mapped[dt.datetime | None]
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    resolved_at: Mapped[dt.datetime | None]
    resolution_note: Mapped[str | None] = mapped_column(Text)

    invitation: Mapped[Invitation | None] = relationship(
        primaryjoin="Invitation.id == Response.invitation_id", foreign_keys="Response.invitation_id"
    )
    stage: Mapped[Stage] = relationship(
        primaryjoin="Stage.id == Response.stage_id", foreign_keys="Response.stage_id"
    )
    touchpoint: Mapped[Touchpoint] = relationship(
        primaryjoin="Touchpoint.id == Response.touchpoint_id", foreign_keys="Response.touchpoint_id"
    )
    contact: Mapped[Contact | None] = relationship(
        primaryjoin="Contact.id == Response.contact_id", foreign_keys="Response.contact_id"
    )
    # The consent given with this answer, if any. The submit that records it
    # sets it in memory, so what follows an opt-in reads it without a query.
    testimonial: Mapped[Testimonial | None] = relationship(
        primaryjoin="Testimonial.response_id == Response.id",
        foreign_keys="Testimonial.response_id",
        uselist=False,
        viewonly=True,
    )

    def __repr__(self) -> str:
        return f"<Response {self.id}>"


IMPORT_JOB_STATES = ("pending", "finished", "failed")
IMPORT_REASON_MAX = 300


class ImportJob(WorkspaceOwned, Model):
    """A touchpoint CSV upload, recorded a batch at a time (see `surveys.imports`).

    The counts are the import's report and stay after the job ends; the rows
    themselves (personal data) are deleted as each batch records them.
    """

    __tablename__ = "import_job"
    __table_args__ = (
        UniqueConstraint("workspace_id", "id"),
        CheckConstraint(f"state IN {IMPORT_JOB_STATES!r}", name="state_known"),
        Index("ix_import_job_workspace_created", "workspace_id", "created_at"),
        Index("ix_import_job_state", "state"),
    )

    id: Mapped[intpk]
    file_name: Mapped[str120]
    send: Mapped[bool]
    state: Mapped[str] = mapped_column(String(10), default="pending")
    total_rows: Mapped[int]
    # Rows handled so far: recorded + duplicates + rejected + not_recorded.
    recorded: Mapped[int] = mapped_column(default=0)  # invitations created (any status)
    throttled: Mapped[int] = mapped_column(default=0)  # of those recorded: asked too recently
    unsubscribed: Mapped[int] = mapped_column(default=0)  # of those recorded: opted out
    duplicates: Mapped[int] = mapped_column(default=0)  # event_id imported before
    rejected: Mapped[int] = mapped_column(default=0)
    not_recorded: Mapped[int] = mapped_column(default=0)  # left when the job failed
    first_not_recorded_line: Mapped[int | None]
    failed_attempts: Mapped[int] = mapped_column(default=0)  # of the current batch, in a row
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[created_at]
    updated_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]

    @property
    def done_rows(self) -> int:
        return self.recorded + self.duplicates + self.rejected + self.not_recorded


class ImportRow(WorkspaceOwned, Model):
    """One CSV line of a job not recorded yet; deleted in the batch that records it."""

    __tablename__ = "import_row"
    __table_args__ = (
        same_workspace_fk("job_id", "import_job"),
        UniqueConstraint("job_id", "line"),
    )

    id: Mapped[intpk]
    job_id: Mapped[int]
    line: Mapped[int]  # in the file; line 1 is the header
    # The cells as uploaded (unbounded: a long or odd value is rejected with
    # its reason when the batch reads it, as any other bad row).
    email: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    stage: Mapped[str] = mapped_column(Text)
    touchpoint: Mapped[str] = mapped_column(Text)
    event_id: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[str] = mapped_column(Text)


class ImportRejection(WorkspaceOwned, Model):
    """A line of an import that was not recorded, and why (no cell values: no personal data)."""

    __tablename__ = "import_rejection"
    __table_args__ = (
        same_workspace_fk("job_id", "import_job"),
        UniqueConstraint("job_id", "line"),
    )

    id: Mapped[intpk]
    job_id: Mapped[int]
    line: Mapped[int]
    reason: Mapped[str] = mapped_column(String(IMPORT_REASON_MAX))
