"""Configuration, read from the environment.

`Config.from_env()` is the only place that looks at `os.environ`; everything else
reads `app.config`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEV_SECRET_KEY = "dev-only-insecure-secret-key"
ENVIRONMENTS = ("production", "development", "testing")
# The shortest outbox lease allowed: a batch of emails takes seconds to send.
MIN_LEASE_SECONDS = 5


class ConfigError(RuntimeError):
    """Raised when the environment cannot run the service safely."""


def default_database_url(instance_path: str) -> str:
    return "sqlite:///" + str(Path(instance_path) / "feedback.sqlite")


@dataclass
class Config:
    """Settings with their environment variable names."""

    ENV: str = "production"
    SECRET_KEY: str | None = None
    DATABASE_URL: str | None = None
    BASE_URL: str = "http://127.0.0.1:8000"
    RATELIMIT_STORAGE_URI: str = "memory://"
    # A customer may open the form and answer much later; an expired token is
    # handled gracefully anyway, but a long limit avoids the round trip.
    WTF_CSRF_TIME_LIMIT: int = 12 * 3600
    SESSION_COOKIE_SECURE: bool = False
    # How many reverse proxies (nginx, a load balancer) stand in front of
    # gunicorn and set X-Forwarded-*; 0 trusts none of those headers.
    PROXY_COUNT: int = 0
    # smtp://user:pass@host:port (STARTTLS when offered) or smtps:// (TLS from the start).
    # None when the environment does not set it: a production worker then
    # refuses to start rather than hand customers' emails to a guessed server.
    SMTP_URL: str | None = None
    MAIL_FROM: str = "feedback@localhost"
    OUTBOX_RETRY_BASE_SECONDS: int = 60
    OUTBOX_MAX_ATTEMPTS: int = 8
    # How long a worker holds the messages it claimed; a worker killed mid-batch
    # leaves them to another worker (or itself, restarted) after this. Longer
    # than any batch takes to send, or a slow batch would be claimed twice.
    OUTBOX_LEASE_SECONDS: int = 300
    # Requests per API key (Flask-Limiter notation); shared across workers
    # through RATELIMIT_STORAGE_URI.
    API_RATE_LIMIT: str = "600/minute"
    # Webhooks go to public internet addresses only; a self-hoster whose
    # receiver is on their own network (loopback, 10/8, 172.16/12, 192.168/16,
    # 100.64/10, fc00::/7) opts in with WEBHOOK_ALLOW_PRIVATE_NETWORKS=1.
    WEBHOOK_ALLOW_PRIVATE_NETWORKS: bool = False
    # Bearer token for /readyz and /metrics; unset, both answer 404 (not public by default).
    METRICS_TOKEN: str | None = None
    TESTING: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        env = os.environ if environ is None else environ
        name = env.get("FEEDBACK_ENV", "production").strip().lower()
        if name not in ENVIRONMENTS:
            raise ConfigError(
                f"FEEDBACK_ENV must be one of {', '.join(ENVIRONMENTS)}, not {name!r}"
            )
        base_url = env.get("BASE_URL", cls.BASE_URL).rstrip("/")
        lease = _int(env, "OUTBOX_LEASE_SECONDS", cls.OUTBOX_LEASE_SECONDS)
        if lease < MIN_LEASE_SECONDS:
            # A lease that ends before a batch is sent hands it to a second worker.
            raise ConfigError(
                f"OUTBOX_LEASE_SECONDS must be at least {MIN_LEASE_SECONDS}, not {lease}"
            )
        return cls(
            ENV=name,
            SECRET_KEY=env.get("SECRET_KEY") or None,
            DATABASE_URL=env.get("DATABASE_URL") or None,
            BASE_URL=base_url,
            RATELIMIT_STORAGE_URI=env.get("RATELIMIT_STORAGE_URI", cls.RATELIMIT_STORAGE_URI),
            SESSION_COOKIE_SECURE=base_url.startswith("https://"),
            PROXY_COUNT=_int(env, "PROXY_COUNT", 0),
            SMTP_URL=env.get("SMTP_URL", "").strip() or None,
            MAIL_FROM=env.get("MAIL_FROM", cls.MAIL_FROM),
            OUTBOX_RETRY_BASE_SECONDS=_int(
                env, "OUTBOX_RETRY_BASE_SECONDS", cls.OUTBOX_RETRY_BASE_SECONDS
            ),
            OUTBOX_MAX_ATTEMPTS=_int(env, "OUTBOX_MAX_ATTEMPTS", cls.OUTBOX_MAX_ATTEMPTS),
            OUTBOX_LEASE_SECONDS=lease,
            API_RATE_LIMIT=env.get("API_RATE_LIMIT", cls.API_RATE_LIMIT),
            WEBHOOK_ALLOW_PRIVATE_NETWORKS=_flag(env, "WEBHOOK_ALLOW_PRIVATE_NETWORKS"),
            METRICS_TOKEN=env.get("METRICS_TOKEN", "").strip() or None,
        )

    def to_flask(self, instance_path: str) -> dict[str, Any]:
        """Flask settings, after the checks that refuse an unsafe start."""
        secret = self.SECRET_KEY
        if self.ENV == "production" and (not secret or secret == DEV_SECRET_KEY):
            raise ConfigError(
                "SECRET_KEY is missing: set it to a long random string "
                '(python -c "import secrets; print(secrets.token_urlsafe(48))"), '
                "or set FEEDBACK_ENV=development for local use."
            )
        url = self.DATABASE_URL or default_database_url(instance_path)
        return {
            "FEEDBACK_ENV": self.ENV,
            "TESTING": self.TESTING or self.ENV == "testing",
            "SECRET_KEY": secret or DEV_SECRET_KEY,
            "SQLALCHEMY_DATABASE_URI": normalise_database_url(url),
            "SQLALCHEMY_ENGINE_OPTIONS": engine_options(url),
            "BASE_URL": self.BASE_URL,
            "RATELIMIT_STORAGE_URI": self.RATELIMIT_STORAGE_URI,
            "WTF_CSRF_TIME_LIMIT": self.WTF_CSRF_TIME_LIMIT,
            "SESSION_COOKIE_SECURE": self.SESSION_COOKIE_SECURE,
            "REMEMBER_COOKIE_SECURE": self.SESSION_COOKIE_SECURE,
            "PROXY_COUNT": self.PROXY_COUNT,
            "SMTP_URL": self.SMTP_URL,
            # Development without an SMTP server: the worker writes emails into
            # this folder and the owner reads them in the app (delivery → Mailbox).
            # Never in production, where the worker refuses to start without SMTP_URL.
            "MAILBOX_ENABLED": self.ENV == "development" and self.SMTP_URL is None,
            "MAILBOX_PATH": str(Path(instance_path) / "mailbox"),
            "MAIL_FROM": self.MAIL_FROM,
            "OUTBOX_RETRY_BASE_SECONDS": self.OUTBOX_RETRY_BASE_SECONDS,
            "OUTBOX_MAX_ATTEMPTS": self.OUTBOX_MAX_ATTEMPTS,
            "OUTBOX_LEASE_SECONDS": self.OUTBOX_LEASE_SECONDS,
            "API_RATE_LIMIT": self.API_RATE_LIMIT,
            "WEBHOOK_ALLOW_PRIVATE_NETWORKS": self.WEBHOOK_ALLOW_PRIVATE_NETWORKS,
            "METRICS_TOKEN": self.METRICS_TOKEN,
            # X-RateLimit-* on limited answers, and Retry-After on a 429.
            "RATELIMIT_HEADERS_ENABLED": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_HTTPONLY": True,
            "REMEMBER_COOKIE_SAMESITE": "Lax",
            # Bodies larger than this are refused with 413 before any parsing.
            "MAX_CONTENT_LENGTH": 64 * 1024,
        }


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise ConfigError(f"{name} must be a whole number, not {raw!r}")
    return int(raw)


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be 1 or 0, not {raw!r}")


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for plain postgres URLs (Heroku-style `postgres://` too)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # Concurrent writers wait for the lock instead of failing at once.
        return {"connect_args": {"timeout": 15}}
    return {
        # A connection the server dropped (a restart, a failover) is found on
        # checkout and replaced, with every other connection as old as it:
        # the first request after a restart works instead of failing once per
        # pooled connection.
        "pool_pre_ping": True,
        # A database that doesn't answer fails fast (the page then says 503,
        # try again) instead of holding the request past gunicorn's 30 s timeout.
        "connect_args": {"connect_timeout": 5},
        "pool_timeout": 10,
    }


def config_for_tests(database_url: str) -> Config:
    """Settings for the test suite."""
    return Config(
        ENV="testing",
        SECRET_KEY="test-secret-key",
        DATABASE_URL=database_url,
        BASE_URL="http://localhost",
        TESTING=True,
    )
