"""Extensions, created unbound; `create_app` binds them."""

from __future__ import annotations

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from spectree import SecurityScheme, SecuritySchemeData, SpecTree

from feedback.db import Base

db = SQLAlchemy(model_class=Base)
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
                type="http", scheme="bearer", description="An API key from /settings/api-keys."
            ),
        )
    ],
    security={"apiKey": []},
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda _parent, child: child,
)
