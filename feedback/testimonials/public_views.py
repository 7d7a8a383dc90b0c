"""Public testimonial pages: the wall, the embeddable widget and the JSON feed (no login)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    abort,
    after_this_request,
    current_app,
    jsonify,
    render_template,
    request,
    url_for,
)
from sqlalchemy.exc import SQLAlchemyError

from feedback import access
from feedback.accounts.models import Workspace
from feedback.accounts.services import workspace_by_slug
from feedback.db import utcnow
from feedback.extensions import db
from feedback.insights import services as rollup
from feedback.journey.models import Stage
from feedback.journey.services import stages_in_order
from feedback.testimonials import wall
from feedback.testimonials.usage import RecentUses, record_uses
from feedback.web import CONTENT_SECURITY_POLICY

bp = Blueprint("public_testimonials", __name__)

WALL_LIMIT = 60
EMBED_LIMIT = 6
EMBED_LIMIT_MAX = 50
FEED_LIMIT_MAX = 100
LAYOUTS = ("grid", "carousel")
# The embed alone may sit in an iframe on any site; web.security_headers then
# leaves out X-Frame-Options (it is only set where the policy forbids framing).
EMBED_POLICY = CONTENT_SECURITY_POLICY.replace("frame-ancestors 'none'", "frame-ancestors *")


class BadParameter(Exception):
    """A query parameter the page cannot use; its message is shown to the visitor."""


def _workspace_or_404(slug: str) -> Workspace:
    workspace = workspace_by_slug(db.session, slug)
    if workspace is None:
        abort(404)
    return workspace


def _stage_filter(stages: list[Stage]) -> Stage | None:
    key = request.args.get("stage") or None
    if key is None:
        return None
    for stage in stages:
        if stage.key == key:
            return stage
    raise BadParameter("There is no such stage. Leave out ?stage= to see every testimonial.")


def _tag_filter() -> str | None:
    tag = request.args.get("tag") or None
    if tag is not None and not wall.valid_tag(tag):
        raise BadParameter(
            "?tag= takes one tag as shown on the wall: lowercase letters, digits and dashes."
        )
    return tag


def _record_published(
    workspace: Workspace, shown: list[wall.ShownTestimonial], channel: str
) -> None:
    """Note where these testimonials were shown, so a withdrawal can be followed everywhere.

    Each process writes a (testimonial, channel) pair at most hourly (see
    RecentUses), and only once the page has been sent (`call_on_close`): the
    visitor never waits for the write lock, and a failed write never costs
    them the page.
    """
    recent: RecentUses = current_app.extensions.setdefault("testimonial_uses", RecentUses())
    due = recent.due([t.id for t in shown], channel)
    if not due:
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    workspace_id = workspace.id

    def record() -> None:
        with app.app_context():
            try:
                record_uses(db.session, workspace_id, due, channel, utcnow())
                db.session.commit()
            except SQLAlchemyError:
                db.session.rollback()
                recent.forget(due, channel)
                app.logger.warning("could not record testimonial uses", exc_info=True)

    @after_this_request
    def record_when_sent(response: Response) -> Response:
        response.call_on_close(record)
        return response


def _limit(default: int, maximum: int) -> int:
    raw = request.args.get("limit", "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise BadParameter(f"?limit= must be a whole number from 1 to {maximum}.")
    return int(raw)


def _embed_layout() -> str:
    layout = request.args.get("layout") or "grid"
    if layout not in LAYOUTS:
        raise BadParameter("?layout= must be grid or carousel.")
    return layout


def _bad_request(message: str) -> tuple[str, int]:
    return render_template(
        "errors/error.html", status=400, title="This address needs a fix", message=message
    ), 400


def _local_dates(workspace: Workspace, shown: list[wall.ShownTestimonial]) -> dict[int, str]:
    zone = ZoneInfo(workspace.timezone)
    return {t.id: t.date.astimezone(zone).date().isoformat() for t in shown}


@bp.get("/t/<slug>")
@access.public
def wall_page(slug: str) -> str | tuple[str, int]:
    """The testimonial wall: approved and featured testimonials, featured first."""
    workspace = _workspace_or_404(slug)
    stages = stages_in_order(db.session, workspace.id)
    try:
        stage = _stage_filter(stages)
        tag = _tag_filter()
    except BadParameter as error:
        return _bad_request(str(error))
    stage_key = stage.key if stage else None
    shown = wall.shown_testimonials(
        db.session, workspace.id, stage_key=stage_key, tag=tag, limit=WALL_LIMIT
    )
    total = (
        len(shown)
        if len(shown) < WALL_LIMIT
        else wall.count_shown(db.session, workspace.id, stage_key=stage_key, tag=tag)
    )
    rating = rollup.aggregate_rating(db.session, workspace.id, stage_key)
    dates = _local_dates(workspace, shown)
    tags = wall.shown_tags(db.session, workspace.id)
    _record_published(workspace, shown, "wall")
    return render_template(
        "testimonials/wall.html",
        workspace=workspace,
        stages=stages,
        stage=stage,
        tag=tag,
        tags=tags,
        testimonials=shown,
        total=total,
        rating=rating,
        dates=dates,
        json_ld=wall.json_for_script(wall.structured_data(workspace.name, rating, shown, dates)),
    )


@bp.get("/t/<slug>/embed")
@access.public
def embed(slug: str) -> Response:
    """A compact widget meant for an iframe on the business's own site."""
    workspace = _workspace_or_404(slug)
    try:
        stage = _stage_filter(stages_in_order(db.session, workspace.id))
        tag = _tag_filter()
        limit = _limit(EMBED_LIMIT, EMBED_LIMIT_MAX)
        layout = _embed_layout()
    except BadParameter as error:
        # Framed too, so whoever pastes a wrong snippet reads why in their own page.
        body, status = _bad_request(str(error))
        refused = Response(body, status)
        refused.headers["Content-Security-Policy"] = EMBED_POLICY
        return refused
    stage_key = stage.key if stage else None
    shown = wall.shown_testimonials(
        db.session, workspace.id, stage_key=stage_key, tag=tag, limit=limit
    )
    _record_published(workspace, shown, "embed")
    page = Response(
        render_template(
            "testimonials/embed.html",
            workspace=workspace,
            stage=stage,
            testimonials=shown,
            layout=layout,
            dates=_local_dates(workspace, shown),
            wall_url=url_for(
                ".wall_page", slug=workspace.slug, stage=stage_key, tag=tag, _external=True
            ),
        )
    )
    page.headers["Content-Security-Policy"] = EMBED_POLICY
    return page


@bp.get("/t/<slug>.json")
@access.public
def feed(slug: str) -> tuple[Response, int]:
    """The shown testimonials as JSON, readable from any site (CORS, no credentials)."""
    workspace = workspace_by_slug(db.session, slug)
    if workspace is None:
        return _json_error("not_found", "No such business.", 404)
    try:
        stage = _stage_filter(stages_in_order(db.session, workspace.id))
        tag = _tag_filter()
        limit = _limit(WALL_LIMIT, FEED_LIMIT_MAX)
    except BadParameter as error:
        return _json_error("bad_request", str(error), 400)
    stage_key = stage.key if stage else None
    shown = wall.shown_testimonials(
        db.session, workspace.id, stage_key=stage_key, tag=tag, limit=limit
    )
    _record_published(workspace, shown, "feed")
    rating = rollup.aggregate_rating(db.session, workspace.id, stage_key)
    dates = _local_dates(workspace, shown)
    body = {
        "business": workspace.name,
        "selection": "Chosen by the business from customers who agreed to be quoted.",
        "aggregate_rating": {
            "rating_out_of_5": rating.value,
            "count": rating.count,
            "computed_from": "all responses",
        },
        "data": [
            {
                "id": t.id,
                "quote": t.quote,
                "display_name": t.display_name,
                "role": t.role,
                "disclosure": t.disclosure,
                "date": dates[t.id],
                "stage": t.stage_key,
                "rating": t.rating,
                "rating_out_of_5": t.stars,
                "featured": t.featured,
                "tags": list(t.tags),
            }
            for t in shown
        ],
    }
    return _cors(jsonify(body)), 200


def _json_error(code: str, message: str, status: int) -> tuple[Response, int]:
    return _cors(jsonify({"error": {"code": code, "message": message}})), status


def _cors(response: Response) -> Response:
    # Public data only: any origin may read it, never with the visitor's cookies.
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Methods"] = "GET"
    return response
