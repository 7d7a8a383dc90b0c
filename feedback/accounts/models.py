"""Workspaces (a business), users and their memberships."""

from __future__ import annotations

import datetime as dt
import hashlib

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from feedback.db import WorkspaceOwned, created_at, intpk, str80, str120, str254
from feedback.extensions import Model

ROLES = ("owner", "member")
DEFAULT_CONSENT_TEXT = (
    "I agree that {business} may publish my comment, with the name and role I give (or as "
    "“a verified customer” if I give no name), as a testimonial on its website, and also "
    "in any other places I choose. I can withdraw this at any time."
)
# Workspaces still on the first default moved to this one as version 2 (migration c10610425ecf).


class Workspace(Model):
    """A business and its settings."""

    __tablename__ = "workspace"
    __table_args__ = (
        CheckConstraint("throttle_days >= 0", name="throttle_days_not_negative"),
        CheckConstraint("contact_cap_days >= 0", name="contact_cap_days_not_negative"),
        CheckConstraint("reminder_days >= 0", name="reminder_days_not_negative"),
        CheckConstraint("follow_up_sla_hours > 0", name="follow_up_sla_positive"),
        CheckConstraint("invitation_ttl_days > 0", name="invitation_ttl_positive"),
        CheckConstraint("consent_version > 0", name="consent_version_positive"),
        CheckConstraint("testimonial_max_age_days > 0", name="testimonial_max_age_positive"),
    )

    id: Mapped[intpk]
    name: Mapped[str120]
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # No second survey for the same stage within this many days (0: no limit).
    throttle_days: Mapped[int] = mapped_column(default=30)
    # At most one survey per contact, any stage, within this many days (0: no limit).
    contact_cap_days: Mapped[int] = mapped_column(default=3, server_default="3")
    # One reminder this many days after an unanswered survey email (0: none).
    reminder_days: Mapped[int] = mapped_column(default=3, server_default="3")
    follow_up_sla_hours: Mapped[int] = mapped_column(default=24)
    invitation_ttl_days: Mapped[int] = mapped_column(default=30)
    brand_colour: Mapped[str] = mapped_column(String(7), default="#2f6f4f")
    sender_name: Mapped[str80 | None]
    sender_address: Mapped[str254 | None]
    # Kept by the webhook services: lets each submit skip looking for
    # endpoints in the (usual) workspace that has none.
    has_webhooks: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Kept by the follow-up digest: unhappy answers submitted up to this moment
    # have been emailed to the owners (None: no digest yet; it starts from
    # `created_at`). Also when the last digest went out, for its hourly limit.
    follow_up_digest_at: Mapped[dt.datetime | None]
    consent_text: Mapped[str] = mapped_column(Text)
    consent_version: Mapped[int] = mapped_column(default=1)
    # Testimonials older than this are flagged for the customer to re-confirm.
    testimonial_max_age_days: Mapped[int] = mapped_column(default=730, server_default="730")
    created_at: Mapped[created_at]

    memberships: Mapped[list[Membership]] = relationship(back_populates="workspace")

    def __repr__(self) -> str:
        return f"<Workspace {self.slug}>"


class User(UserMixin, Model):
    """Someone who logs in to look after one or more workspaces."""

    __tablename__ = "user_account"

    id: Mapped[intpk]
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[created_at]
    last_login_at: Mapped[dt.datetime | None]

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", order_by="Membership.id"
    )

    @property
    def password_fingerprint(self) -> str:
        """Changes whenever the password does. Set-password links carry it, so a new
        password retires every older link (each link works once)."""
        return hashlib.sha256(self.password_hash.encode()).hexdigest()[:16]

    def get_id(self) -> str:
        """What Flask-Login keeps in the session and remember-me cookies: the random token
        of this browser's `UserSession` (set by the login and by `auth.load_user`), not the
        user's id, so deleting the row ends the session wherever a copy of a cookie is."""
        token: str | None = getattr(self, "session_token", None)
        if token is None:
            raise RuntimeError("log in through accounts.services.start_session first")
        return token

    # UserMixin compares `get_id()`, which is now per browser: two objects are the same
    # user when they are the same account.
    __hash__ = object.__hash__

    def __eq__(self, other: object) -> bool:
        if isinstance(other, User):
            return self is other or (self.id is not None and self.id == other.id)
        return NotImplemented

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class UserSession(Model):
    """One logged-in browser. Only the SHA-256 of its random token is stored; the token
    itself travels in the browser's (signed) session and remember-me cookies. Logging out
    deletes the row, which ends the session for every copy of those cookies."""

    __tablename__ = "user_session"
    __table_args__ = (CheckConstraint("length(token_hash) = 64", name="token_hash_is_sha256_hex"),)

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # "Keep me logged in": a longer idle limit (accounts.services.SESSION_IDLE).
    remembered: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[created_at]
    # Written at most every few minutes (SESSION_SEEN_EVERY), not on every request.
    last_seen_at: Mapped[dt.datetime]
    # The browser's User-Agent as it said at login, cut short: lets a person tell
    # their sessions apart on the account page.
    user_agent: Mapped[str | None] = mapped_column(String(200))

    user: Mapped[User] = relationship()


class LoginThrottle(Model):
    """Failed password logins for one email address, where every process sees them.

    Keyed by the SHA-256 of the normalised address, and kept for addresses with no
    account too, so a lock looks the same whether or not the account exists.
    """

    __tablename__ = "login_throttle"
    __table_args__ = (
        CheckConstraint("length(email_hash) = 64", name="email_hash_is_sha256_hex"),
        CheckConstraint("failures >= 0", name="failures_not_negative"),
    )

    email_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Attempts counted since `window_start` (each is counted before its password is
    # checked, so concurrent attempts cannot slip past the limit).
    failures: Mapped[int]
    window_start: Mapped[dt.datetime] = mapped_column(index=True)
    locked_until: Mapped[dt.datetime | None]


class Membership(Model):
    """A user's role in a workspace."""

    __tablename__ = "membership"
    __table_args__ = (
        UniqueConstraint("workspace_id", "user_id"),
        CheckConstraint(f"role IN {ROLES!r}", name="role_known"),
    )

    id: Mapped[intpk]
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(10), default="owner")
    created_at: Mapped[created_at]

    workspace: Mapped[Workspace] = relationship(back_populates="memberships")
    user: Mapped[User] = relationship(back_populates="memberships")


class ApiKey(WorkspaceOwned, Model):
    """A key other systems use to call the JSON API for one workspace.

    Only the SHA-256 of the key is stored; its first characters (`prefix`) are
    kept in clear so owners can tell keys apart.
    """

    __tablename__ = "api_key"
    __table_args__ = (
        Index("ix_api_key_workspace_created", "workspace_id", "created_at"),
        CheckConstraint("length(key_hash) = 64", name="key_hash_is_sha256_hex"),
    )

    id: Mapped[intpk]
    name: Mapped[str80]
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[created_at]
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]

    @property
    def active(self) -> bool:
        return self.revoked_at is None
