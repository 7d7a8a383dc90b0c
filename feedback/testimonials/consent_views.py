"""The customer's consent page (no login: the link is the key) and the owner's re-confirm button."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.wrappers import Response

from feedback import access, transactions
from feedback.accounts.auth import current_workspace
from feedback.accounts.forms import EmptyForm
from feedback.db import utcnow
from feedback.errors import csrf_failure_page
from feedback.extensions import db, limiter
from feedback.testimonials import consent
from feedback.testimonials.services import TestimonialNotFound

bp = Blueprint("consent", __name__)

# Generous: one person withdraws once, but a shared office or mobile carrier
# address may hold many customers; the 256-bit token is what stops guessing.
ACTION_LIMIT = "60 per hour"
# The inbox's own query parameters, passed back so the owner lands where they were.
INBOX_PLACE = ("show", "order", "tag", "after", "before")


def _not_found() -> tuple[str, int]:
    return render_template(
        "errors/error.html",
        status=404,
        title="We could not find this consent link",
        message="Please check that the whole link was copied from the email or page it came in.",
    ), 404


def _load(token: str) -> consent.Consent | None:
    try:
        return consent.find_consent(db.session, token)
    except consent.ConsentNotFound:
        return None


STALE_PAGE_NOTICE = (
    "This page was open for a long time, so we could not accept that yet. "
    "Nothing has changed: please press the button again."
)


@bp.get("/consent/<token>")
@access.customer
def show(token: str) -> tuple[str, int] | str:
    """What the customer agreed to, its status now, and one button to withdraw it."""
    return _consent_page(token)


def _consent_page(token: str, notice: str | None = None) -> tuple[str, int] | str:
    given = _load(token)
    if given is None:
        return _not_found()
    now = utcnow()
    return render_template(
        "testimonials/consent.html",
        workspace=given.workspace,
        consent=given,
        token=token,
        channels=consent.channels_text(given.testimonial),
        # An owner's request (?ask=1) offers it before the quote is stale, too.
        offer_reconfirm=given.testimonial.withdrawn_at is None
        and (consent.may_reconfirm(given, now) or request.args.get("ask") == "1"),
        form=EmptyForm(formdata=None),
        notice=notice,
    )


def consent_after_csrf_failure(token: str) -> tuple[str, int]:
    """A withdrawal from a page left open too long: the page again, fresh, with a word why.

    Withdrawing must stay as easy as opting in, so an expired form is not a
    dead end ("reload and try again") but the same button, ready to press.
    """
    page = _consent_page(token, notice=STALE_PAGE_NOTICE)
    return page if isinstance(page, tuple) else (page, 400)


@bp.errorhandler(CSRFError)
def stale_page(error: CSRFError) -> tuple[str, int]:
    """The customer's withdraw and reconfirm buttons get their page back, ready to press;
    the owner's reconfirm request gets the general page."""
    view = current_app.view_functions.get(request.endpoint or "")
    if view in (withdraw, reconfirm):
        return consent_after_csrf_failure((request.view_args or {})["token"])
    return csrf_failure_page()


@bp.post("/consent/<token>/withdraw")
@access.customer
@limiter.limit(ACTION_LIMIT)
def withdraw(token: str) -> Response | tuple[str, int]:
    """One button, no login, no questions: withdrawing is as easy as opting in was."""
    given = _load(token)
    if given is None:
        return _not_found()
    if not EmptyForm().validate_on_submit():
        abort(400)
    consent.withdraw(db.session, given, utcnow())
    return redirect(url_for("consent.show", token=token), code=303)


@bp.post("/consent/<token>/reconfirm")
@access.customer
@limiter.limit(ACTION_LIMIT)
def reconfirm(token: str) -> Response | tuple[str, int]:
    """ "Yes, keep showing it": the quote counts as freshly confirmed from now."""
    given = _load(token)
    if given is None:
        return _not_found()
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        consent.reconfirm(db.session, given, utcnow())
    except consent.ConsentWithdrawn:
        # Withdrawn meanwhile: the redirect shows that, and keeps nothing of this.
        transactions.discard_changes()
    return redirect(url_for("consent.show", token=token), code=303)


@bp.post("/testimonials/<int:testimonial_id>/reconfirm")
@access.member
def request_reconfirmation(testimonial_id: int) -> Response:
    """Email the customer asking them to re-confirm (or withdraw) their testimonial."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        consent.request_reconfirmation(
            db.session,
            current_workspace(),
            testimonial_id,
            utcnow(),
            base_url=current_app.config["BASE_URL"],
        )
    except TestimonialNotFound:
        abort(404)
    except consent.ReconfirmationError as error:
        transactions.discard_changes()
        flash(str(error))
    else:
        flash("Asked the customer by email to re-confirm or withdraw their testimonial.")
    place: dict[str, Any] = {key: value for key in INBOX_PLACE if (value := request.args.get(key))}
    return redirect(url_for("testimonials.inbox", **place), code=303)
