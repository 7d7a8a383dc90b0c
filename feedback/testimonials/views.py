"""Owner pages: the testimonial inbox, the moderation actions on it, reuse and settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from werkzeug.wrappers import Response

from feedback import access, transactions
from feedback.accounts.auth import current_workspace
from feedback.accounts.forms import EmptyForm
from feedback.db import utcnow
from feedback.extensions import db
from feedback.inputs import required
from feedback.journey.services import stages_in_order
from feedback.paging import CURSOR_MAX, usable_cursor
from feedback.testimonials import card, services
from feedback.testimonials.forms import (
    ExcerptForm,
    MaterialConnectionForm,
    TagsForm,
    TestimonialSettingsForm,
    UseForm,
)
from feedback.testimonials.models import MATERIAL_CONNECTION_LABELS, TAG_MAX, Testimonial

bp = Blueprint("testimonials", __name__)

SHOW_LABELS = {
    "pending": "Pending",
    "approved": "Approved",
    "featured": "Featured",
    "rejected": "Rejected",
    "withdrawn": "Withdrawn",
    "all": "All",
}
ORDERS = ("suggested", "newest")


def _where() -> dict[str, str | None]:
    """The tab, order, tag and page the owner was on, checked, to go back to after an action.

    The page is its cursor (`after` or `before`), passed on as given: the
    inbox checks it when it is shown again.
    """
    show = request.args.get("show", "pending")
    order = request.args.get("order", "suggested")
    tag = (request.args.get("tag") or "").strip()[:TAG_MAX] or None
    where: dict[str, str | None] = {
        "show": show if show in services.SHOWS else "pending",
        "order": order if order in ORDERS else "suggested",
        "tag": tag,
    }
    for name in ("after", "before"):
        value = request.args.get(name)
        if value and len(value) <= CURSOR_MAX:
            where[name] = value
    return where


def _inbox(
    *,
    excerpt_form: ExcerptForm | None = None,
    tags_form: TagsForm | None = None,
    form_for: int | None = None,
    status: int = 200,
) -> tuple[str, int]:
    workspace = current_workspace()
    where = _where()
    tag = where["tag"]
    show, suggested_first = str(where["show"]), where["order"] == "suggested"
    cursor, bad_cursor = usable_cursor(request.args, services.cursor_kinds(show, suggested_first))
    page = services.moderation_queue(
        db.session,
        workspace.id,
        show,
        cursor,
        suggested_first=suggested_first,
        tag=tag,
    )
    if bad_cursor:
        where.pop("after", None)
        where.pop("before", None)
        status = max(status, 400)
    details = services.page_details(db.session, workspace, page.items, utcnow())
    return render_template(
        "testimonials/inbox.html",
        workspace=workspace,
        page=page,
        where=where,
        show_labels=SHOW_LABELS,
        action_form=EmptyForm(formdata=None),
        excerpt_form=excerpt_form,
        tags_form=tags_form,
        connection_labels=MATERIAL_CONNECTION_LABELS,
        form_for=form_for,
        uses=details.uses,
        stale=details.stale,
        age_limit=details.age_limit,
        reuse=details.reuse,
        agreed_text=services.agreed_text,
        bad_cursor=bad_cursor,
    ), status


@bp.get("/testimonials")
@access.member
def inbox() -> tuple[str, int]:
    """Customers' "you may quote me" comments: pending ones, suggested first, by default."""
    return _inbox()


def _back(testimonial_id: int | None = None) -> Response:
    anchor = f"t{testimonial_id}" if testimonial_id is not None else None
    # mypy matches the query's str values against url_for's `_external: bool` too.
    where: dict[str, Any] = _where()
    return redirect(url_for("testimonials.inbox", **where, _anchor=anchor), code=303)


def _act(testimonial_id: int, action: Callable[[], Testimonial], done: str) -> Response:
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        action()
    except services.TestimonialNotFound:
        abort(404)
    except services.WithdrawnTestimonial as error:
        transactions.discard_changes()
        flash(str(error))
        return _back()
    flash(done)
    return _back()


@bp.post("/testimonials/<int:testimonial_id>/approve")
@access.member
def approve(testimonial_id: int) -> Response:
    ws = current_workspace().id
    return _act(
        testimonial_id,
        lambda: services.approve(db.session, ws, testimonial_id, current_user.id, utcnow()),
        "Approved: it may be shown.",
    )


@bp.post("/testimonials/<int:testimonial_id>/feature")
@access.member
def feature(testimonial_id: int) -> Response:
    ws = current_workspace().id
    return _act(
        testimonial_id,
        lambda: services.feature(db.session, ws, testimonial_id, current_user.id, utcnow()),
        "Featured: it is shown first.",
    )


@bp.post("/testimonials/<int:testimonial_id>/reject")
@access.member
def reject(testimonial_id: int) -> Response:
    ws = current_workspace().id
    return _act(
        testimonial_id,
        lambda: services.reject(db.session, ws, testimonial_id),
        "Rejected: it will not be shown.",
    )


@bp.post("/testimonials/<int:testimonial_id>/withdraw")
@access.member
def withdraw(testimonial_id: int) -> Response:
    ws = current_workspace().id
    return _act(
        testimonial_id,
        lambda: services.withdraw_on_request(db.session, ws, testimonial_id, utcnow()),
        "Withdrawn on the customer's request: it will never be shown again.",
    )


@bp.post("/testimonials/<int:testimonial_id>/excerpt")
@access.member
def set_excerpt(testimonial_id: int) -> Response | tuple[str, int]:
    form = ExcerptForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        testimonial = services.set_excerpt(
            db.session, current_workspace().id, testimonial_id, form.excerpt.data
        )
    except services.TestimonialNotFound:
        abort(404)
    except services.ExcerptError as error:
        transactions.discard_changes()
        form.excerpt.errors = [str(error)]
        return _inbox(excerpt_form=form, form_for=testimonial_id, status=422)
    flash(
        "Excerpt saved." if testimonial.excerpt else "Excerpt cleared: the whole comment is used."
    )
    return _back()


@bp.post("/testimonials/<int:testimonial_id>/tags")
@access.member
def set_tags(testimonial_id: int) -> Response | tuple[str, int]:
    """Replace a testimonial's tags with the comma-separated ones typed."""
    form = TagsForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        return _inbox(tags_form=form, form_for=testimonial_id, status=422)
    try:
        services.set_tags(
            db.session,
            current_workspace().id,
            testimonial_id,
            services.tags_from_text(form.tags.data),
        )
    except services.TestimonialNotFound:
        abort(404)
    except services.ModerationError as error:
        transactions.discard_changes()
        form.tags.errors = [str(error)]
        return _inbox(tags_form=form, form_for=testimonial_id, status=422)
    flash("Tags saved.")
    return _back(testimonial_id)


@bp.post("/testimonials/<int:testimonial_id>/material-connection")
@access.member
def set_material_connection(testimonial_id: int) -> Response:
    """Record a tie to disclose next to the quote (employee, gift, incentive, relative)."""
    form = MaterialConnectionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        testimonial = services.set_material_connection(
            db.session, current_workspace().id, testimonial_id, form.material_connection.data
        )
    except services.TestimonialNotFound:
        abort(404)
    disclosure = testimonial.disclosure
    flash(f"Disclosure shown with it: {disclosure}." if disclosure else "No disclosure needed.")
    return _back(testimonial_id)


@bp.post("/testimonials/<int:testimonial_id>/used")
@access.member
def record_use(testimonial_id: int) -> tuple[str, int]:
    """The Copy button's note that the quote was copied; answers 204, no page."""
    form = UseForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        services.record_owner_use(
            db.session,
            current_workspace().id,
            testimonial_id,
            required(form.channel.data),
            utcnow(),
        )
    except services.TestimonialNotFound:
        abort(404)
    except services.ModerationError:
        abort(409)
    return "", 204


@bp.get("/testimonials/<int:testimonial_id>/card.svg")
@access.member
def card_svg(testimonial_id: int) -> Response:
    """The testimonial as an SVG image card, downloaded; the download is recorded as a use."""
    workspace = current_workspace()
    try:
        testimonial = services.record_owner_use(
            db.session, workspace.id, testimonial_id, "card", utcnow()
        )
    except services.TestimonialNotFound:
        abort(404)
    except services.ModerationError:
        abort(409)
    body = card.svg(card.card_for(testimonial, workspace))
    response = Response(body, mimetype="image/svg+xml")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{workspace.slug}-testimonial-{testimonial_id}.svg"'
    )
    # Owner-only: never kept by a shared cache.
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _public_links(slug: str) -> dict[str, str]:
    """The public addresses, from BASE_URL: snippets must point where customers reach us,
    not at whatever host name the owner happened to use."""
    base = current_app.config["BASE_URL"]
    return {
        "wall": base + url_for("public_testimonials.wall_page", slug=slug),
        "embed": base + url_for("public_testimonials.embed", slug=slug),
        "feed": base + url_for("public_testimonials.feed", slug=slug),
    }


@bp.route("/settings/testimonials", methods=["GET", "POST"])
@access.owner
def settings() -> Response | tuple[str, int]:
    """Embed snippets for the wall, widget and feed, and how old a testimonial may get."""
    workspace = current_workspace()
    form = TestimonialSettingsForm(obj=workspace)
    if form.validate_on_submit():
        try:
            services.set_max_age_days(db.session, workspace, form.testimonial_max_age_days.data)
        except services.ModerationError as error:
            transactions.discard_changes()
            form.testimonial_max_age_days.errors = [str(error)]
        else:
            flash("Testimonial settings saved.")
            return redirect(url_for("testimonials.settings"), code=303)
    elif request.method == "POST" and form.csrf_token.errors:
        abort(400)
    return render_template(
        "testimonials/settings.html",
        workspace=workspace,
        form=form,
        links=_public_links(workspace.slug),
        stages=stages_in_order(db.session, workspace.id),
    ), 422 if form.errors else 200
