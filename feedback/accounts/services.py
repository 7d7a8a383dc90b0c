"""Workspaces, owners and logging in."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from feedback.accounts.models import (
    DEFAULT_CONSENT_TEXT,
    ROLES,
    ApiKey,
    Membership,
    User,
    Workspace,
)
from feedback.db import lock_for_writing, workspace_scoped
from feedback.delivery.addresses import (
    AddressError,
    check_address,
    check_display_name,
    has_control_characters,
)
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
    return session.scalar(select(User).where(User.email == normalise_email(email)))


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
        user.password_hash = generate_password_hash(password)
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


def authenticate(session: Session, email: str, password: str, now: dt.datetime) -> User | None:
    """The user with this email and password, or None."""
    user = user_by_email(session, email)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password):
        return None
    user.last_login_at = now
    return user


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


def set_password(session: Session, user: User, password: str, confirm: str) -> None:
    """A new password for the user, or AccountFieldError naming the field at fault."""
    _check_new_password(password, confirm)
    user.password_hash = generate_password_hash(password)
    session.flush()


def change_password(
    session: Session, user: User, current: str, password: str, confirm: str
) -> None:
    """The user's own change of password: the current one first."""
    if not check_password_hash(user.password_hash, current):
        raise AccountFieldError("current_password", "That is not your current password.")
    set_password(session, user, password, confirm)


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


def _membership_to_change(
    session: Session, workspace_id: int, acting: User, user_id: int
) -> Membership:
    lock_for_writing(session)
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
    return session.scalar(
        select(func.count()).where(
            Membership.workspace_id == workspace_id,
            Membership.role == "owner",
            Membership.user_id != user_id,
        )
    )


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

    Follow-ups given to them go back to nobody, so none waits on someone gone.
    """
    from feedback.surveys.models import Response  # surveys builds on accounts

    membership = _membership_to_change(session, workspace_id, acting, user_id)
    if membership.role == "owner" and not _owners_besides(session, workspace_id, user_id):
        raise AccountError("A workspace needs at least one owner.")
    user = membership.user
    session.execute(
        update(Response)
        .where(Response.workspace_id == workspace_id, Response.assignee_id == user_id)
        .values(assignee_id=None)
        .execution_options(synchronize_session=False)
    )
    session.delete(membership)
    session.flush()
    return user


def password_link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/password/set/{token}"


def enqueue_password_email(
    session: Session,
    user: User,
    workspace: Workspace,
    purpose: str,
    *,
    link: str,
    now: dt.datetime,
    invited_by: str | None = None,
) -> None:
    """Through the outbox: a new team member's invitation ("invite": choose a password),
    an existing user's notice ("added": log in as usual) or a reset link ("reset")."""
    context = {
        "workspace": workspace,
        "user": user,
        "purpose": purpose,
        "link": link,
        "invited_by": invited_by,
        "invite_days": INVITE_LINK_DAYS,
        "reset_hours": RESET_LINK_HOURS,
    }
    text = current_app.jinja_env.get_template("accounts/password_email.txt").render(context)
    subject = {
        "invite": f"You are invited to {workspace.name}'s customer feedback",
        "added": f"You can now see {workspace.name}'s customer feedback",
        "reset": f"Set a new password for {workspace.name}'s customer feedback",
    }[purpose]
    enqueue_email(session, workspace.id, to=user.email, subject=subject[:200], text=text, now=now)


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
        session, user, workspace, "reset", link=password_link(base_url, token), now=now
    )
    return True
