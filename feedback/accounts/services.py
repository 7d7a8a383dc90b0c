"""Workspaces, owners and logging in."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import ColumnElement, and_, case, delete, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased, joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from feedback.accounts.models import (
    DEFAULT_CONSENT_TEXT,
    ROLES,
    ApiKey,
    LoginThrottle,
    Membership,
    User,
    UserSession,
    Workspace,
)
from feedback.db import UTCDateTime, lock_for_writing, rowcount, workspace_scoped
from feedback.delivery.addresses import (
    AddressError,
    check_address,
    check_display_name,
    has_control_characters,
)
from feedback.delivery.emails import compose
from feedback.delivery.services import enqueue_email
from feedback.journey.services import create_default_journey
from feedback.text import slug_of

PASSWORD_MIN = 10
# A hash to check against when the email is unknown, so a wrong email costs
# the same time as a wrong password and does not reveal who has an account.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


class AccountError(ValueError):
    """A request about accounts that cannot be carried out; the message says why."""


def normalise_email(email: str) -> str:
    """Trimmed and lowercased: addresses are matched case-insensitively."""
    return email.strip().lower()


def is_email_address(email: str) -> bool:
    """Whether a (normalised) address can be written to: one @, a dot in the domain, no spaces."""
    local, _, domain = email.partition("@")
    return bool(
        local
        and "." in domain
        and "@" not in domain
        and len(email) <= 254
        and not any(c.isspace() or ord(c) < 32 for c in email)
    )


def slugify(name: str) -> str:
    """'Acme Plants' -> 'acme-plants'."""
    return slug_of(name, limit=50) or "workspace"


def workspace_by_slug(session: Session, slug: str) -> Workspace | None:
    return session.scalar(select(Workspace).where(Workspace.slug == slug))


def create_workspace(session: Session, name: str, timezone: str = "UTC") -> Workspace:
    """A new workspace with a unique slug and the default journey."""
    name = " ".join(name.split())
    if not name:
        raise AccountError("A workspace needs a name.")
    base = slugify(name)
    slug, n = base, 1
    while workspace_by_slug(session, slug) is not None:
        n += 1
        slug = f"{base}-{n}"
    workspace = Workspace(
        name=name[:120],
        slug=slug,
        timezone=timezone,
        sender_name=name[:80],
        consent_text=DEFAULT_CONSENT_TEXT.format(business=name),
        consent_version=1,
    )
    session.add(workspace)
    session.flush()
    create_default_journey(session, workspace)
    return workspace


def user_by_email(session: Session, email: str) -> User | None:
    email = normalise_email(email)
    # No address holds control characters, and PostgreSQL refuses a NUL in a query.
    if any(ord(c) < 32 or ord(c) == 127 for c in email):
        return None
    return session.scalar(select(User).where(User.email == email))


def create_owner(
    session: Session, email: str, password: str, workspace_name: str
) -> tuple[User, Workspace]:
    """An owner of the workspace called `workspace_name`, creating either as needed.

    An existing user keeps their password unless a new one is given here.
    """
    email = normalise_email(email)
    if "@" not in email or len(email) > 254:
        raise AccountError(f"{email!r} is not an email address.")
    if len(password) < PASSWORD_MIN:
        raise AccountError(f"The password needs at least {PASSWORD_MIN} characters.")
    workspace = session.scalar(
        select(Workspace).where(
            func.lower(Workspace.name) == " ".join(workspace_name.split()).lower()
        )
    ) or workspace_by_slug(session, slugify(workspace_name))
    if workspace is None:
        workspace = create_workspace(session, workspace_name)
    return make_owner_of(session, workspace, email, password), workspace


def make_owner_of(session: Session, workspace: Workspace, email: str, password: str) -> User:
    """The user with this email (created if new, password set) as an owner of the workspace."""
    user = user_by_email(session, email)
    if user is None:
        user = User(email=email, password_hash=generate_password_hash(password))
        session.add(user)
        session.flush()
    else:
        _replace_password(session, user, password)
    membership = session.scalar(
        select(Membership).where(
            Membership.workspace_id == workspace.id, Membership.user_id == user.id
        )
    )
    if membership is None:
        session.add(Membership(workspace_id=workspace.id, user_id=user.id, role="owner"))
    else:
        membership.role = "owner"
    session.flush()
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The user with this email and password, or None. Reads only: the login view counts
    the attempt first (`count_login_attempt`) and records a success (`start_session`)."""
    user = user_by_email(session, email)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password):
        return None
    return user


# -- login throttling ---------------------------------------------------------------------
# Per email address, in the database, so every worker and machine counts the same
# attempts (Flask-Limiter's per-address limit stays in front, in its own storage).
# 10 attempts in 15 minutes are checked; the next ones are refused for 15 minutes,
# the right password included. Addresses without an account are counted the same
# way, so the refusal tells nobody whether an account exists. A successful login or
# a new password (the emailed reset works while locked) clears the count.
LOGIN_ATTEMPTS_ALLOWED = 10
LOGIN_ATTEMPT_WINDOW = dt.timedelta(minutes=15)
LOGIN_LOCK = dt.timedelta(minutes=15)


class LoginLocked(AccountError):
    """Too many failed logins for this address lately; `until` says when it may try again."""

    def __init__(self, until: dt.datetime) -> None:
        super().__init__("Too many failed logins with this email.")
        self.until = until


def _email_key(email: str) -> str:
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()


def count_login_attempt(session: Session, email: str, now: dt.datetime) -> None:
    """Count a password login for this address before its password is checked, or raise
    LoginLocked. Commit before checking the password, so other processes see the count.

    One atomic upsert: concurrent attempts on any number of processes each add one, so
    no more than LOGIN_ATTEMPTS_ALLOWED passwords are ever checked per window.
    """
    lock_for_writing(session)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    row = LoginThrottle.__table__.c
    locked = row.locked_until > _at(now)
    window_over = row.window_start <= _at(now - LOGIN_ATTEMPT_WINDOW)
    first_attempt = insert(LoginThrottle.__table__).values(
        email_hash=_email_key(email), failures=1, window_start=now, locked_until=None
    )
    # Every expression reads the row as it was before this attempt. The attempt after
    # LOGIN_ATTEMPTS_ALLOWED in one window starts the lock.
    stmt = first_attempt.on_conflict_do_update(
        index_elements=["email_hash"],
        set_={
            "failures": case((locked, row.failures), (window_over, 1), else_=row.failures + 1),
            "window_start": case(
                (locked, row.window_start), (window_over, _at(now)), else_=row.window_start
            ),
            "locked_until": case(
                (locked, row.locked_until),
                (~window_over & (row.failures >= LOGIN_ATTEMPTS_ALLOWED), _at(now + LOGIN_LOCK)),
                else_=None,
            ),
        },
    ).returning(row.locked_until)
    locked_until = session.execute(stmt).scalar_one()
    if locked_until is not None and locked_until > now:
        raise LoginLocked(locked_until)


def _at(moment: dt.datetime) -> ColumnElement[dt.datetime]:
    """A timestamp as a bound value of the UTC column type (naive UTC on SQLite)."""
    return literal(moment, UTCDateTime())


def clear_login_attempts(session: Session, email: str) -> None:
    """Forget the address's counted attempts (after a success or a new password)."""
    session.execute(delete(LoginThrottle).where(LoginThrottle.email_hash == _email_key(email)))


def forget_old_login_attempts(session: Session, now: dt.datetime) -> None:
    """Drop counts whose window and lock are over (addresses tried once and never again)."""
    session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.window_start <= now - LOGIN_ATTEMPT_WINDOW,
            or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until <= now),
        )
    )


# -- sessions -----------------------------------------------------------------------------
# A session ends when its browser logs out, when its person logs out everywhere or
# chooses a new password (every other session), after SESSION_IDLE without a request
# (12 hours; 30 days with "keep me logged in") and at the latest SESSION_MAX_AGE
# (30 days) after the login.
SESSION_IDLE = {False: dt.timedelta(hours=12), True: dt.timedelta(days=30)}
SESSION_MAX_AGE = dt.timedelta(days=30)
# `last_seen_at` is written when it is this old, not on every request.
SESSION_SEEN_EVERY = dt.timedelta(minutes=5)
USER_AGENT_MAX = 200


def _hash_session_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(
    session: Session,
    user: User,
    now: dt.datetime,
    *,
    remembered: bool = False,
    user_agent: str | None = None,
) -> str:
    """A new logged-in session for the user, after a login or a new password.

    Returns its token (for the browser's cookies only; the database keeps its hash) and
    sets it on `user` for Flask-Login. Also records the login and clears the address's
    counted failed attempts.
    """
    lock_for_writing(session)
    token = secrets.token_urlsafe(32)
    session.execute(delete(UserSession).where(UserSession.user_id == user.id, _expired(now)))
    agent = "".join(c for c in (user_agent or "") if c.isprintable())[:USER_AGENT_MAX] or None
    session.add(
        UserSession(
            user_id=user.id,
            token_hash=_hash_session_token(token),
            remembered=remembered,
            created_at=now,
            last_seen_at=now,
            user_agent=agent,
        )
    )
    user.last_login_at = now
    clear_login_attempts(session, user.email)
    forget_old_login_attempts(session, now)
    session.flush()
    user.session_token = token
    return token


def _expired(now: dt.datetime) -> ColumnElement[bool]:
    return or_(
        UserSession.created_at <= now - SESSION_MAX_AGE,
        and_(UserSession.remembered, UserSession.last_seen_at <= now - SESSION_IDLE[True]),
        and_(~UserSession.remembered, UserSession.last_seen_at <= now - SESSION_IDLE[False]),
    )


def session_for_token(session: Session, token: str, now: dt.datetime) -> UserSession | None:
    """The live session with this token, or None (unknown, ended or expired)."""
    if not token or len(token) > 100:
        return None
    return session.scalar(
        select(UserSession)
        .options(joinedload(UserSession.user))
        .where(UserSession.token_hash == _hash_session_token(token), ~_expired(now))
    )


def needs_seen_update(user_session: UserSession, now: dt.datetime) -> bool:
    return now - user_session.last_seen_at >= SESSION_SEEN_EVERY


def note_session_seen(session: Session, user_session_id: int, now: dt.datetime) -> None:
    """The session is still in use: its idle time starts again."""
    session.execute(
        update(UserSession).where(UserSession.id == user_session_id).values(last_seen_at=now)
    )


def end_session(session: Session, token: str) -> None:
    """Log out one browser: the session stops working wherever its cookies are."""
    session.execute(delete(UserSession).where(UserSession.token_hash == _hash_session_token(token)))


def end_sessions_of(session: Session, user: User, *, keep_token: str | None = None) -> int:
    """End every session of the user ("log out everywhere"), but `keep_token`'s; how many."""
    stmt = delete(UserSession).where(UserSession.user_id == user.id)
    if keep_token is not None:
        stmt = stmt.where(UserSession.token_hash != _hash_session_token(keep_token))
    return rowcount(session.execute(stmt))


def sessions_of(session: Session, user: User, now: dt.datetime) -> list[UserSession]:
    """The user's live sessions, most recently used first."""
    return list(
        session.scalars(
            select(UserSession)
            .where(UserSession.user_id == user.id, ~_expired(now))
            .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
        )
    )


def is_session_token(user_session: UserSession, token: str | None) -> bool:
    """Whether this is the session of the browser holding `token`."""
    return token is not None and secrets.compare_digest(
        user_session.token_hash, _hash_session_token(token)
    )


def workspaces_of(session: Session, user: User) -> list[Workspace]:
    """Every workspace the user works in, in the order they joined them."""
    return list(
        session.scalars(
            select(Workspace)
            .join(Membership, Membership.workspace_id == Workspace.id)
            .where(Membership.user_id == user.id)
            .order_by(Membership.id)
        )
    )


def workspace_of(session: Session, user: User) -> Workspace | None:
    """The first workspace the user joined; None for someone in no workspace."""
    workspaces = workspaces_of(session, user)
    return workspaces[0] if workspaces else None


API_KEY_PREFIX = "fbk_"
# Writing last_used_at on every call would make each API request a write; a
# key's "last used" is shown to the minute at best.
LAST_USED_GRANULARITY = dt.timedelta(minutes=5)


class ApiKeyNotFound(LookupError):
    """No such key in this workspace."""


@dataclass(frozen=True)
class IssuedApiKey:
    """A new key and its secret, which exists only here and in what is shown once."""

    api_key: ApiKey
    secret: str


def _hash_api_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(
    session: Session,
    workspace: Workspace,
    name: str,
    now: dt.datetime,
    created_by: User | None = None,
) -> IssuedApiKey:
    """A new API key for the workspace; the secret is returned once and never stored."""
    name = " ".join(name.split())[:80] or "API key"
    public = secrets.token_hex(4)
    secret = f"{API_KEY_PREFIX}{public}_{secrets.token_urlsafe(32)}"
    api_key = ApiKey(
        workspace_id=workspace.id,
        name=name,
        prefix=f"{API_KEY_PREFIX}{public}",
        key_hash=_hash_api_key(secret),
        created_at=now,
        created_by_id=created_by.id if created_by else None,
    )
    session.add(api_key)
    session.flush()
    return IssuedApiKey(api_key=api_key, secret=secret)


def authenticate_api_key(session: Session, secret: str, now: dt.datetime) -> ApiKey | None:
    """The active key with this secret, or None (unknown, malformed or revoked)."""
    if not secret.startswith(API_KEY_PREFIX) or len(secret) > 200:
        return None
    api_key = session.scalar(select(ApiKey).where(ApiKey.key_hash == _hash_api_key(secret)))
    if api_key is None or api_key.revoked_at is not None:
        return None
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_GRANULARITY:
        api_key.last_used_at = now
    return api_key


def api_keys_of(session: Session, workspace_id: int) -> list[ApiKey]:
    """The workspace's keys, newest first, revoked ones included."""
    stmt = select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
    return list(session.scalars(workspace_scoped(stmt, workspace_id)))


def revoke_api_key(session: Session, workspace_id: int, key_id: int, now: dt.datetime) -> ApiKey:
    """Revoke one of the workspace's keys; another workspace's id is ApiKeyNotFound."""
    api_key = session.scalar(
        workspace_scoped(select(ApiKey).where(ApiKey.id == key_id), workspace_id)
    )
    if api_key is None:
        raise ApiKeyNotFound(key_id)
    if api_key.revoked_at is None:
        api_key.revoked_at = now
    return api_key


@dataclass(frozen=True)
class WorkspaceSettings:
    """What an owner can change on the settings page."""

    name: str
    timezone: str
    brand_colour: str
    sender_name: str | None
    sender_address: str | None
    invitation_ttl_days: int
    throttle_days: int
    contact_cap_days: int
    reminder_days: int
    follow_up_sla_hours: int
    consent_text: str


class SettingsError(ValueError):
    """A setting that cannot be saved; `field` names the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _relative_luminance(colour: str) -> float:
    def channel(hex_pair: str) -> float:
        value = int(hex_pair, 16) / 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_with_white(colour: str) -> float:
    """WCAG contrast ratio of white text on this colour."""
    return 1.05 / (_relative_luminance(colour) + 0.05)


def update_settings(session: Session, workspace: Workspace, settings: WorkspaceSettings) -> None:
    """Apply the settings, or raise SettingsError naming the field at fault.

    A changed consent text gets a new version, so every consent record keeps
    saying exactly which wording the customer agreed to.
    """
    if has_control_characters(settings.name):
        raise SettingsError("name", "No line breaks or other control characters in the name.")
    name = " ".join(settings.name.split())
    if not name:
        raise SettingsError("name", "The business needs a name.")
    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise SettingsError(
            "timezone", f"{settings.timezone!r} is not a time zone (e.g. Europe/Berlin)."
        ) from error
    colour = settings.brand_colour.lower()
    if not re.fullmatch(r"#[0-9a-f]{6}", colour):
        raise SettingsError("brand_colour", "Use a colour like #2f6f4f.")
    if contrast_with_white(colour) < 4.5:
        raise SettingsError(
            "brand_colour",
            f"White text on {colour} is hard to read (contrast "
            f"{contrast_with_white(colour):.1f}:1, at least 4.5:1 needed): pick a darker colour.",
        )
    # Both reach the From: header of every email: no line breaks, a real address.
    try:
        sender_name = check_display_name(settings.sender_name or "") or None
    except AddressError as error:
        raise SettingsError("sender_name", str(error)) from error
    sender_address = normalise_email(settings.sender_address) if settings.sender_address else None
    if sender_address:
        try:
            sender_address = check_address(sender_address)
        except AddressError as error:
            raise SettingsError("sender_address", str(error)) from error
    consent = settings.consent_text.strip()
    if not consent:
        raise SettingsError("consent_text", "The consent text cannot be empty.")
    if consent != workspace.consent_text:
        workspace.consent_text = consent
        workspace.consent_version += 1
    workspace.name = name[:120]
    workspace.timezone = settings.timezone
    workspace.brand_colour = colour
    # Empty: the emails show the business's name (see delivery.addresses.sender).
    workspace.sender_name = sender_name
    workspace.sender_address = sender_address
    workspace.invitation_ttl_days = settings.invitation_ttl_days
    workspace.throttle_days = settings.throttle_days
    workspace.contact_cap_days = settings.contact_cap_days
    workspace.reminder_days = settings.reminder_days
    workspace.follow_up_sla_hours = settings.follow_up_sla_hours


def members_of(session: Session, workspace_id: int) -> list[User]:
    """The workspace's members (who get its notices, who can be given follow-ups), by email."""
    return list(
        session.scalars(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.workspace_id == workspace_id)
            .order_by(User.email)
        )
    )


# -- passwords and the team -------------------------------------------------------------

PASSWORD_MAX = 200  # hashing cost grows with the length; nobody types more
INVITE_LINK_DAYS = 3
RESET_LINK_HOURS = 1
_PASSWORD_LINK_SALT = "set-password"


class AccountFieldError(AccountError):
    """A password or team change that cannot be made; `field` names the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _check_new_password(password: str, confirm: str) -> None:
    if len(password) < PASSWORD_MIN:
        raise AccountFieldError("password", f"Please use at least {PASSWORD_MIN} characters.")
    if len(password) > PASSWORD_MAX:
        raise AccountFieldError("password", f"Please use at most {PASSWORD_MAX} characters.")
    if password != confirm:
        raise AccountFieldError("confirm", "The two passwords are not the same.")


def _replace_password(
    session: Session, user: User, password: str, *, keep_session_token: str | None = None
) -> None:
    """The one place a password changes: every session but `keep_session_token`'s ends
    (whoever knew the old password is out), and failed logins are forgotten."""
    user.password_hash = generate_password_hash(password)
    end_sessions_of(session, user, keep_token=keep_session_token)
    clear_login_attempts(session, user.email)
    session.flush()


def set_password(
    session: Session,
    user: User,
    password: str,
    confirm: str,
    *,
    keep_session_token: str | None = None,
) -> None:
    """A new password for the user, or AccountFieldError naming the field at fault.

    Every session of the user ends, but the one of `keep_session_token` (the browser
    that made the change).
    """
    _check_new_password(password, confirm)
    _replace_password(session, user, password, keep_session_token=keep_session_token)


def change_password(
    session: Session,
    user: User,
    current: str,
    password: str,
    confirm: str,
    *,
    keep_session_token: str | None = None,
) -> None:
    """The user's own change of password: the current one first."""
    if not check_password_hash(user.password_hash, current):
        raise AccountFieldError("current_password", "That is not your current password.")
    set_password(session, user, password, confirm, keep_session_token=keep_session_token)


def password_link_token(secret_key: str, user: User, purpose: str) -> str:
    """A signed link token to set the password: "invite" (3 days) or "reset" (1 hour).

    Single use: it names the password it replaces, so it stops working once used.
    """
    if purpose not in ("invite", "reset"):
        raise ValueError(purpose)
    serializer = URLSafeTimedSerializer(secret_key, salt=_PASSWORD_LINK_SALT)
    return serializer.dumps({"u": user.id, "p": user.password_fingerprint, "k": purpose})


def user_for_password_link(
    session: Session, secret_key: str, token: str, now: dt.datetime
) -> User | None:
    """The user a set-password link is for, or None when it is forged, stale or used."""
    serializer = URLSafeTimedSerializer(secret_key, salt=_PASSWORD_LINK_SALT)
    try:
        data, signed_at = serializer.loads(
            token, max_age=INVITE_LINK_DAYS * 86400, return_timestamp=True
        )
    except BadData:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        return None
    if data.get("k") == "reset" and now - signed_at > dt.timedelta(hours=RESET_LINK_HOURS):
        return None
    user = session.get(User, data["u"])
    if user is None or data.get("p") != user.password_fingerprint:
        return None
    return user


@dataclass(frozen=True)
class Member:
    user: User
    role: str
    since: dt.datetime

    @property
    def last_login_here(self) -> dt.datetime | None:
        """The person's last login, if it came after they joined this workspace: what they
        did before (as someone else's colleague, say) is none of this team's business."""
        last = self.user.last_login_at
        return last if last is not None and last >= self.since else None


def team_of(session: Session, workspace_id: int) -> list[Member]:
    """Everyone who works in the workspace with their role, owners first."""
    rows = session.execute(
        select(User, Membership.role, Membership.created_at)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.workspace_id == workspace_id)
        .order_by(Membership.role.desc(), User.email)
    )
    return [Member(user, role, since) for user, role, since in rows]


def role_in(session: Session, workspace_id: int, user_id: int) -> str | None:
    return session.scalar(
        select(Membership.role).where(
            Membership.workspace_id == workspace_id, Membership.user_id == user_id
        )
    )


def add_member(session: Session, workspace: Workspace, email: str, role: str) -> tuple[User, bool]:
    """Give someone a place in the workspace; the user, and whether they are new here.

    A new user gets a password nobody knows: they choose their own through the
    invitation link.
    """
    email = normalise_email(email)
    if not is_email_address(email):
        raise AccountFieldError("email", "That is not an email address.")
    if role not in ROLES:
        raise AccountFieldError("role", "Please choose owner or member.")
    user = user_by_email(session, email)
    created = user is None
    if user is None:
        user = User(email=email, password_hash=generate_password_hash(secrets.token_urlsafe(32)))
        session.add(user)
        session.flush()
    elif role_in(session, workspace.id, user.id) is not None:
        raise AccountFieldError("email", f"{email} is already in the team.")
    session.add(Membership(workspace_id=workspace.id, user_id=user.id, role=role))
    session.flush()
    return user, created


def _lock_team(session: Session, workspace_id: int) -> None:
    """Serialise changes to one workspace's team, so two owners leaving or removing each
    other at once cannot both pass the "at least one owner" check.

    FOR NO KEY UPDATE on PostgreSQL: it does not wait for (or hold up) the key-share
    locks that every insert of the workspace's rows takes through its foreign key.
    """
    lock_for_writing(session)
    session.execute(
        select(Workspace.id).where(Workspace.id == workspace_id).with_for_update(key_share=True)
    )


def _membership_to_change(
    session: Session, workspace_id: int, acting: User, user_id: int
) -> Membership:
    _lock_team(session, workspace_id)
    membership = session.scalar(
        select(Membership)
        .where(Membership.workspace_id == workspace_id, Membership.user_id == user_id)
        .with_for_update()
    )
    if membership is None:
        raise MemberNotFound(user_id)
    if user_id == acting.id:
        raise AccountError("You cannot change your own place in the team; ask another owner.")
    return membership


class MemberNotFound(LookupError):
    """No such member in this workspace."""


def _owners_besides(session: Session, workspace_id: int, user_id: int) -> int:
    return session.execute(
        select(func.count()).where(
            Membership.workspace_id == workspace_id,
            Membership.role == "owner",
            Membership.user_id != user_id,
        )
    ).scalar_one()


def set_member_role(
    session: Session, workspace_id: int, acting: User, user_id: int, role: str
) -> Membership:
    """Make a member an owner or an owner a member; the workspace keeps at least one owner."""
    if role not in ROLES:
        raise AccountError("Please choose owner or member.")
    membership = _membership_to_change(session, workspace_id, acting, user_id)
    if role != "owner" and not _owners_besides(session, workspace_id, user_id):
        raise AccountError("A workspace needs at least one owner.")
    membership.role = role
    session.flush()
    return membership


def remove_member(session: Session, workspace_id: int, acting: User, user_id: int) -> User:
    """Take someone out of the workspace; their account stays for other workspaces.

    The caller gives their follow-ups back to nobody in the same transaction
    (`followups.services.unassign_member`: follow-ups build on accounts).
    """
    membership = _membership_to_change(session, workspace_id, acting, user_id)
    if membership.role == "owner" and not _owners_besides(session, workspace_id, user_id):
        raise AccountError("A workspace needs at least one owner.")
    user = membership.user
    _end_membership(session, membership)
    return user


def _end_membership(session: Session, membership: Membership) -> None:
    session.delete(membership)
    session.flush()


@dataclass(frozen=True)
class Place:
    """One of a person's workspaces, as their account page shows it."""

    workspace: Workspace
    role: str
    since: dt.datetime
    # A member can always leave; an owner only while an owner who joined before them
    # stays (see leave_workspace).
    can_leave: bool


def places_of(session: Session, user: User) -> list[Place]:
    """The user's workspaces in the order they joined, and whether they may leave each."""
    earlier = aliased(Membership)
    earlier_owners = (
        select(func.count())
        .where(
            earlier.workspace_id == Membership.workspace_id,
            earlier.role == "owner",
            earlier.id < Membership.id,
        )
        .correlate(Membership)
        .scalar_subquery()
    )
    rows = session.execute(
        select(Workspace, Membership.role, Membership.created_at, earlier_owners)
        .join(Membership, Membership.workspace_id == Workspace.id)
        .where(Membership.user_id == user.id)
        .order_by(Membership.id)
    )
    return [
        Place(workspace, role, since, role != "owner" or count > 0)
        for workspace, role, since, count in rows
    ]


def leave_workspace(session: Session, workspace_id: int, user: User) -> Workspace:
    """Someone leaves a workspace they are in (e.g. one they were added to without
    asking). Returns the workspace.

    An owner may leave only while an owner who joined before them stays; otherwise
    another owner removes them. So nobody can make someone else the only owner of a
    workspace by adding them as an owner and walking away: becoming the only owner
    always takes that person's own doing.

    The caller gives their follow-ups there back to nobody, as when an owner removes them.
    """
    _lock_team(session, workspace_id)
    membership = session.scalar(
        select(Membership)
        .where(Membership.workspace_id == workspace_id, Membership.user_id == user.id)
        .with_for_update()
    )
    if membership is None:
        raise MemberNotFound(user.id)
    if membership.role == "owner" and not session.scalar(
        select(func.count()).where(
            Membership.workspace_id == workspace_id,
            Membership.role == "owner",
            Membership.id < membership.id,
        )
    ):
        raise AccountError(
            f"No owner of {membership.workspace.name} who joined before you would stay: "
            "ask another owner to remove you on its team page (if you are its only owner, "
            "make someone else an owner first)."
        )
    workspace = membership.workspace
    _end_membership(session, membership)
    return workspace


def password_link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/password/set/{token}"


def send_team_invitation(
    session: Session,
    workspace: Workspace,
    user: User,
    *,
    new_user: bool,
    invited_by: str,
    secret_key: str,
    base_url: str,
    now: dt.datetime,
) -> None:
    """Tell someone just added to the team, by email and only by email.

    Someone new gets a link to choose their password; someone who already has an
    account is only told they were added (with how to leave): joining a team gives
    nobody any say over the account itself.
    """
    if new_user:
        token = password_link_token(secret_key, user, "invite")
        purpose, link = "invite", password_link(base_url, token)
    else:
        purpose, link = "added", f"{base_url.rstrip('/')}/login"
    enqueue_password_email(
        session,
        user,
        workspace,
        purpose,
        link=link,
        now=now,
        invited_by=invited_by,
        base_url=base_url,
    )


def invite_again(
    session: Session,
    workspace: Workspace,
    user_id: int,
    *,
    invited_by: str,
    secret_key: str,
    base_url: str,
    now: dt.datetime,
) -> User:
    """Email a team member who has not logged in since joining once more: a fresh link
    to choose a password if the account has never been used, else the notice again.

    The link goes to the account's own mailbox only. Raises MemberNotFound for someone
    not in the workspace, AccountError for someone who has logged in since joining.
    """
    member = next((m for m in team_of(session, workspace.id) if m.user.id == user_id), None)
    if member is None:
        raise MemberNotFound(user_id)
    user = member.user
    if member.last_login_here is not None:
        raise AccountError(
            f"{user.email} has logged in since joining: a forgotten password is reset "
            "from the login page."
        )
    send_team_invitation(
        session,
        workspace,
        user,
        new_user=user.last_login_at is None,
        invited_by=invited_by,
        secret_key=secret_key,
        base_url=base_url,
        now=now,
    )
    return user


def enqueue_password_email(
    session: Session,
    user: User,
    workspace: Workspace,
    purpose: str,
    *,
    link: str,
    now: dt.datetime,
    invited_by: str | None = None,
    base_url: str | None = None,
) -> None:
    """Through the outbox: a new team member's invitation ("invite": choose a password),
    an existing user's notice ("added": log in as usual) or a reset link ("reset")."""
    if purpose not in ("invite", "added", "reset"):
        raise ValueError(f"no password email for {purpose!r}")
    email = compose(
        "password",
        to=user.email,
        data={
            "workspace": workspace,
            "user": user,
            "purpose": purpose,
            "link": link,
            "account_link": f"{base_url.rstrip('/')}/account" if base_url else None,
            "invited_by": invited_by,
            "invite_days": INVITE_LINK_DAYS,
            "reset_hours": RESET_LINK_HOURS,
        },
        base_url=base_url,
        # "You were added" only points at the login page: a Retry may send it as it was.
        links=purpose != "added",
    )
    enqueue_email(session, workspace.id, **vars(email), now=now)


def request_password_reset(
    session: Session, email: str, *, secret_key: str, base_url: str, now: dt.datetime
) -> bool:
    """Email a reset link if the address belongs to someone in a workspace.

    The answer is only for tests and logs: the page says the same either way,
    so it does not tell who has an account.
    """
    user = user_by_email(session, email)
    workspace = workspace_of(session, user) if user is not None else None
    if user is None or workspace is None:
        return False
    token = password_link_token(secret_key, user, "reset")
    enqueue_password_email(
        session,
        user,
        workspace,
        "reset",
        link=password_link(base_url, token),
        now=now,
        base_url=base_url,
    )
    return True
