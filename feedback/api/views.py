"""JSON API v1: touchpoints in; stages, responses and testimonials out; moderation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue
from flask_limiter.util import get_remote_address
from spectree import Response as Answers

from feedback import access, metrics, transactions
from feedback.accounts.models import Workspace
from feedback.accounts.services import authenticate_api_key
from feedback.api import services
from feedback.api.errors import ApiError, error_response, field_errors
from feedback.api.schemas import (
    BulkTouchpointsIn,
    BulkTouchpointsOut,
    ErrorEnvelope,
    ResponsesOut,
    ResponsesQuery,
    StagesOut,
    StagesQuery,
    TestimonialOut,
    TestimonialPatch,
    TestimonialsOut,
    TestimonialsQuery,
    TouchpointIn,
    TouchpointOut,
)
from feedback.db import utcnow
from feedback.extensions import api_spec, db, limiter
from feedback.inputs import JSON_MAX_DEPTH, json_too_deep
from feedback.insights.services import local_day

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# Every call may fail these ways; each route adds its own.
_COMMON_ERRORS = {"HTTP_401": ErrorEnvelope, "HTTP_429": ErrorEnvelope}


def _answers(**statuses: Any) -> Answers:
    return Answers(**_COMMON_ERRORS, **statuses)


def _raise_invalid(
    _request: Any, _response: Any, error: Exception | None, _instance: Any, _adapter: Any
) -> None:
    # spectree found the body or query invalid: answer in the API's envelope.
    if error is not None:
        fields = field_errors(error)  # type: ignore[arg-type]
        raise ApiError(422, "Some fields are missing or wrong: " + ", ".join(fields), fields=fields)


def documented(**kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Validate with these models and put the route in the OpenAPI document."""
    return api_spec.validate(before=_raise_invalid, tags=["v1"], **kwargs)


def _rate_limit_key() -> str:
    # Per API key (its public prefix), so one busy integration cannot starve another.
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and secret:
        return "api:" + secret.strip()[:16]
    return "api-anonymous:" + get_remote_address()


# Every route of the blueprint, counted per key.
limiter.limit(lambda: current_app.config["API_RATE_LIMIT"], key_func=_rate_limit_key)(bp)


@bp.errorhandler(ApiError)
def api_error(error: ApiError) -> ResponseReturnValue:
    return error_response(error)


@bp.get("/openapi.json")
@access.public
def openapi_document() -> Response:
    """The OpenAPI 3.1 document of the API, generated from the models above; no key needed."""
    return jsonify(api_spec.spec)


@bp.before_request
def authenticate() -> None:
    """Every call carries `Authorization: Bearer <key>`; its workspace is the only one seen."""
    if access.declared_level(request.endpoint) is not access.Access.API_KEY:
        return
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(401)
    api_key = authenticate_api_key(db.session, secret.strip(), utcnow())
    if api_key is None:
        raise ApiError(401, "The API key is unknown or has been revoked.")
    transactions.commit_now("the key's last use is kept even when the call is refused")
    g.workspace = db.session.get(Workspace, api_key.workspace_id)
    # "a=1&&b=2" or "&=x": a parameter without a name is a client bug that the
    # query parser would silently drop; say so (a trailing "&" is harmless).
    segments = request.query_string.split(b"&")
    if any(not part or part.startswith(b"=") for part in segments[:-1]) or (
        segments[-1].startswith(b"=")
    ):
        raise ApiError(
            422, "A query parameter has no name.", fields={"query": "a parameter has no name"}
        )
    nul_in = [key for key, value in request.args.items(multi=True) if "\x00" in key + value]
    if nul_in:
        # Refused here, after the key check, so a caller without a key still learns only 401.
        raise ApiError(
            422,
            "A query parameter contains a NUL character.",
            fields={k.replace("\x00", "") or "query": "contains a NUL character" for k in nul_in},
        )
    if request.method in ("POST", "PATCH") and request.get_json(silent=True) is None:
        if request.is_json and json_too_deep(request.get_data()):
            raise ApiError(
                400,
                f"The JSON body is nested more than {JSON_MAX_DEPTH} levels deep.",
                code="too_deep",
            )
        raise ApiError(
            400, "The body must be JSON, sent with Content-Type: application/json.", code="not_json"
        )


def _links() -> services.Links:
    config = current_app.config
    return services.Links(base_url=config["BASE_URL"], secret_key=config["SECRET_KEY"])


@bp.post("/touchpoints")
@access.api_key
@documented(
    json=TouchpointIn,
    resp=_answers(
        HTTP_200=TouchpointOut,
        HTTP_201=TouchpointOut,
        HTTP_400=ErrorEnvelope,
        HTTP_409=ErrorEnvelope,
        HTTP_413=ErrorEnvelope,
        HTTP_422=ErrorEnvelope,
    ),
)
def record_touchpoint(json: TouchpointIn) -> tuple[TouchpointOut, int]:
    """Record a touchpoint: the contact gets the stage's survey (201), once per event_id (200).

    The same event_id with another contact or touchpoint is refused (409).
    """
    invitation, created = services.record_one(
        db.session, g.workspace, json, now=utcnow(), links=_links()
    )
    if created:
        metrics.INVITATIONS_CREATED.labels(source="api").inc()
    return TouchpointOut(invitation=invitation), 201 if created else 200


@bp.post("/touchpoints/bulk")
@access.api_key
@documented(
    json=BulkTouchpointsIn,
    # Items are validated one by one below, so one bad event spoils only itself.
    skip_validation=True,
    resp=_answers(
        HTTP_200=BulkTouchpointsOut,
        HTTP_400=ErrorEnvelope,
        HTTP_413=ErrorEnvelope,
        HTTP_422=ErrorEnvelope,
    ),
)
def record_touchpoints() -> tuple[BulkTouchpointsOut, int]:
    """Record up to 1,000 touchpoints; one result per event, in order (201, 200 or 422)."""
    events = services.parse_bulk(request.get_json())
    results = services.record_bulk(db.session, g.workspace, events, now=utcnow(), links=_links())
    metrics.INVITATIONS_CREATED.labels(source="api").inc(
        sum(1 for result in results if result.status == 201)
    )
    return BulkTouchpointsOut(results=results), 200


@bp.get("/stages")
@access.api_key
@documented(query=StagesQuery, resp=_answers(HTTP_200=StagesOut, HTTP_422=ErrorEnvelope))
def stages(query: StagesQuery) -> tuple[StagesOut, int]:
    """The journey: stages in order with their touchpoints and the period's figures.

    The figures are the dashboard's: from `since` to `until`, days of the
    workspace's calendar (the last 30 days by default).
    """
    now = utcnow()
    period = services.stages_period(query, local_day(now, g.workspace.timezone))
    data = services.stages_out(db.session, g.workspace, period, now)
    return StagesOut(since=period.first_day, until=period.last_day, data=data), 200


@bp.get("/responses")
@access.api_key
@documented(query=ResponsesQuery, resp=_answers(HTTP_200=ResponsesOut, HTTP_422=ErrorEnvelope))
def responses(query: ResponsesQuery) -> tuple[ResponsesOut, int]:
    """Responses, newest first, a page at a time (pass `next_cursor` back as `cursor`)."""
    items, next_cursor = services.responses_out(db.session, g.workspace.id, query)
    return ResponsesOut(data=items, next_cursor=next_cursor), 200


@bp.get("/testimonials")
@access.api_key
@documented(
    query=TestimonialsQuery, resp=_answers(HTTP_200=TestimonialsOut, HTTP_422=ErrorEnvelope)
)
def testimonials(query: TestimonialsQuery) -> tuple[TestimonialsOut, int]:
    """Customers' "you may quote me" comments (withdrawn ones never), newest first."""
    items, next_cursor = services.testimonials_out(
        db.session,
        g.workspace.id,
        query,
        now=utcnow(),
        max_age_days=g.workspace.testimonial_max_age_days,
    )
    return TestimonialsOut(data=items, next_cursor=next_cursor), 200


@bp.patch("/testimonials/<int:testimonial_id>")
@access.api_key
@documented(
    json=TestimonialPatch,
    resp=_answers(
        HTTP_200=TestimonialOut,
        HTTP_400=ErrorEnvelope,
        HTTP_404=ErrorEnvelope,
        HTTP_409=ErrorEnvelope,
        HTTP_422=ErrorEnvelope,
    ),
)
def moderate_testimonial(testimonial_id: int, json: TestimonialPatch) -> tuple[TestimonialOut, int]:
    """Approve, reject or feature a testimonial; set its excerpt, tags or material connection.

    The excerpt must be verbatim pieces of the comment, cuts marked with "…"
    (422 otherwise; an empty string clears it). `tags` replaces the set (422
    for a tag that is not letters, digits and "-", or more than 10). A testimonial whose customer
    withdrew consent cannot be approved or featured (409). Another
    workspace's id is 404. Nothing changes unless all of it can.
    """
    item = services.moderate_testimonial(
        db.session,
        g.workspace.id,
        testimonial_id,
        json,
        None,
        utcnow(),
        max_age_days=g.workspace.testimonial_max_age_days,
    )
    return item, 200
