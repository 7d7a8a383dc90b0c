"""Owner pages: the testimonial inbox and the moderation actions on it."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from feedback.accounts.auth import current_workspace, workspace_required
from feedback.accounts.forms import EmptyForm
from feedback.db import utcnow
from feedback.extensions import db
from feedback.testimonials import services
from feedback.testimonials.forms import ExcerptForm
from feedback.testimonials.models import Testimonial

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


def _where() -> dict[str, str | int]:
    """The tab, order and page the owner was on, checked, to go back to after an action."""
    show = request.args.get("show", "pending")
    order = request.args.get("order", "suggested")
    return {
        "show": show if show in services.SHOWS else "pending",
        "order": order if order in ORDERS else "suggested",
        "page": max(1, request.args.get("page", default=1, type=int) or 1),
    }


def _inbox(
    *, excerpt_form: ExcerptForm | None = None, form_for: int | None = None, status: int = 200
) -> tuple[str, int]:
    workspace = current_workspace()
    where = _where()
    page = services.moderation_queue(
        db.session,
        workspace.id,
        str(where["show"]),
        int(where["page"]),
        suggested_first=where["order"] == "suggested",
    )
    return render_template(
        "testimonials/inbox.html",
        workspace=workspace,
        page=page,
        where=where,
        show_labels=SHOW_LABELS,
        action_form=EmptyForm(formdata=None),
        excerpt_form=excerpt_form,
        form_for=form_for,
    ), status


@bp.get("/testimonials")
@workspace_required
def inbox() -> tuple[str, int]:
    """Customers' "you may quote me" comments: pending ones, suggested first, by default."""
    return _inbox()


def _back() -> Response:
    return redirect(url_for("testimonials.inbox", **_where()), code=303)


def _act(testimonial_id: int, action: Callable[[], Testimonial], done: str) -> Response:
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        action()
    except services.TestimonialNotFound:
        abort(404)
    except services.WithdrawnTestimonial as error:
        db.session.rollback()
        flash(str(error))
        return _back()
    db.session.commit()
    flash(done)
    return _back()


@bp.post("/testimonials/<int:testimonial_id>/approve")
@workspace_required
def approve(testimonial_id: int) -> Response:
    ws = current_workspace().id
    return _act(
        testimonial_id,
        lambda: services.approve(db.session, ws, testimonial_id, current_user.id, utcnow()),
        "Approved: it may be shown.",
    )


@bp.post("/testimonials/<int:testimonial_id>/feature")
@workspace_required
def feature(testimonial_id: int) -> Response:
    ws = current_workspace().id
    return _act(
        testimonial_id,
        lambda: services.feature(db.session, ws, testimonial_id, current_user.id, utcnow()),
        "Featured: it is shown first.",
    )


@bp.post("/testimonials/<int:testimonial_id>/reject")
@workspace_required
def reject(testimonial_id: int) -> Response:
    ws = current_workspace().id
    return _act(
        testimonial_id,
        lambda: services.reject(db.session, ws, testimonial_id),
        "Rejected: it will not be shown.",
    )


@bp.post("/testimonials/<int:testimonial_id>/withdraw")
@workspace_required
def withdraw(testimonial_id: int) -> Response:
    ws = current_workspace().id
    return _act(
        testimonial_id,
        lambda: services.withdraw_on_request(db.session, ws, testimonial_id, utcnow()),
        "Withdrawn on the customer's request: it will never be shown again.",
    )


@bp.post("/testimonials/<int:testimonial_id>/excerpt")
@workspace_required
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
        db.session.rollback()
        form.excerpt.errors = [str(error)]
        return _inbox(excerpt_form=form, form_for=testimonial_id, status=422)
    db.session.commit()
    flash(
        "Excerpt saved." if testimonial.excerpt else "Excerpt cleared: the whole comment is used."
    )
    return _back()
