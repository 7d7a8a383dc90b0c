"""Extensions, created unbound; `create_app` binds them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from spectree import SecurityScheme, SecuritySchemeData, SpecTree
from spectree.models import SecureType

from feedback.db import Base

if TYPE_CHECKING:
    from flask_sqlalchemy.session import Session
    from sqlalchemy.util import ScopedRegistry

    class RequestSession(Session):
        """What `db.session` is to the type checker.

        At runtime it is a `scoped_session`: every Session method called on it is
        handed to the Session of the current app context (one per request), so it
        can honestly be passed where services take a `Session`. It also has the
        registry's own methods, which the request and worker lifecycles use.
        """

        registry: ScopedRegistry[Session]

        def __call__(self) -> Session: ...

        def remove(self) -> None: ...

    class TypedSQLAlchemy(SQLAlchemy):
        # Flask-SQLAlchemy declares it `scoped_session[Session]`, which has none of
        # Session's methods for the checker (they are generated proxies).
        session: RequestSession  # type: ignore[assignment]

    db: TypedSQLAlchemy
    # Models subclass `Model`: `db.Model` is made at runtime, so the checker
    # cannot use it as a base; it is built from `Base`'s registry and metadata.
    Model = Base
else:
    db = SQLAlchemy(model_class=Base)
    Model = db.Model
migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "accounts.login"
login_manager.login_message = "Please log in to see that page."
# Storage comes from RATELIMIT_STORAGE_URI (memory by default, redis:// when
# several processes serve).
limiter = Limiter(key_func=get_remote_address, default_limits=[])
# The JSON API's OpenAPI document is generated from the pydantic models its
# views validate with; only routes decorated with `api_spec.validate` are in it.
api_spec = SpecTree(
    "flask",
    title="Journey feedback API",
    version="1",
    # Not mounted: the API blueprint serves the document itself, at
    # /api/v1/openapi.json (spectree leaves out routes under its own path).
    path="apidoc",
    mode="strict",
    page_templates={},
    security_schemes=[
        SecurityScheme(
            name="apiKey",
            data=SecuritySchemeData(
                type=SecureType.HTTP,
                scheme="bearer",
                description="An API key from /settings/api-keys.",
            ),
        )
    ],
    security={"apiKey": []},
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child,
)
