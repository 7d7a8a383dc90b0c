"""Testimonials: consent recorded exactly as the customer saw it, excerpts, moderation."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape
from sqlalchemy import Select, delete, select
from sqlalchemy.orm import Session, joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from feedback.accounts.models import Workspace
from feedback.db import insert_complete_row, workspace_scoped
from feedback.paging import (
    Cursor,
    KeysetPage,
    Kind,
    Segment,
    capped_count,
    encode_cursor,
    id_key,
    keyset_page,
    score_key,
    time_key,
)
from feedback.surveys.models import CHANNEL_LABELS, CHANNELS, Response
from feedback.testimonials.models import (
    MATERIAL_CONNECTIONS,
    SHOWN_STATUSES,
    TAG_MAX,
    Testimonial,
    TestimonialTag,
    TestimonialUse,
)
from feedback.testimonials.usage import USE_LABELS, record_uses, uses_of
from feedback.text import STOP_WORDS, words_of


class ConsentSource(Protocol):
    """What consent is recorded from: a workspace, or the copy a survey link carries."""

    id: int
    consent_text: str
    consent_version: int


def consent_text_for(workspace: ConsentSource) -> str:
    """The consent text the form shows; the same string is stored on the record."""
    return workspace.consent_text


def record_consent(
    session: Session,
    workspace: ConsentSource,
    response: Response,
    display_name: str | None,
    now: dt.datetime,
    *,
    display_role: str | None = None,
    channels: tuple[str, ...] = ("website",),
) -> Testimonial:
    """The consent record for a response whose customer ticked "you may quote me".

    `now` is the server's clock, never a time the client sent. The website is
    part of every opt-in; `channels` adds the ones the customer ticked.
    """
    agreed = ["website", *(c for c in CHANNELS if c != "website" and c in channels)]
    testimonial = Testimonial(
        workspace_id=workspace.id,
        response_id=response.id,
        display_name=display_name,
        show_name=display_name is not None,
        display_role=display_role if display_name is not None else None,
        channels=" ".join(agreed),
        consent_text=consent_text_for(workspace),
        consent_version=workspace.consent_version,
        consented_at=now,
        status="pending",
        excerpt=None,
        approved_by_id=None,
        approved_at=None,
        withdrawn_at=None,
        reconfirmed_at=None,
        material_connection=None,
    )
    insert_complete_row(session, testimonial)
    # The response is already stored: tell it about its consent without a query.
    set_committed_value(response, "testimonial", testimonial)
    return testimonial


# --- Excerpts -------------------------------------------------------------------------------

ELLIPSIS = "\u2026"


class ExcerptError(ValueError):
    """An excerpt that is not the customer's own words, cut but unchanged."""


def check_excerpt(original: str, excerpt: str) -> str:
    """The excerpt, normalised, if it only cuts the original; else `ExcerptError`.

    Cuts are marked with "…" ("..." is accepted and becomes "…"). The pieces
    between the marks must each appear verbatim in the original, in the same
    order, without overlapping; case and every character inside a piece must
    match exactly, only whitespace at a piece's ends may differ. Whatever the
    owner typed is returned with "..." turned into "…" and outer whitespace
    trimmed.
    """
    normalised = excerpt.replace("...", ELLIPSIS).strip()
    pieces = [piece.strip() for piece in normalised.split(ELLIPSIS)]
    pieces = [piece for piece in pieces if piece]
    if not pieces:
        raise ExcerptError(
            "An excerpt needs some of the customer's words; leave it empty to clear it."
        )
    position = 0
    for index, piece in enumerate(pieces):
        found = original.find(piece, position)
        if found < 0:
            if index > 0 and piece in original:
                raise ExcerptError(
                    "An excerpt may only cut the customer's words, not change them: "
                    f"'{piece}' does not come after '{pieces[index - 1]}' in the original"
                )
            raise ExcerptError(
                "An excerpt may only cut the customer's words, not change them: "
                f"'{piece}' not found in the original"
            )
        # Taking the earliest match leaves the most room for the pieces after it.
        position = found + len(piece)
    return normalised


# --- Moderation -----------------------------------------------------------------------------

SHOWS = ("pending", "approved", "featured", "rejected", "withdrawn", "all")
PER_PAGE = 25
# Suggested-first ordering scores this many of the newest pending testimonials: each
# is scored in Python with its response and stage, so the pool fixes the page's cost
# (1,000 took over 100 ms on a 2-core machine; 200 is the cost of a small shop's whole
# backlog, and an owner who works through them sees the next 200 next).
SUGGEST_POOL = 200


class ModerationError(Exception):
    """Something an owner asked of a testimonial that cannot be done."""


class TestimonialNotFound(ModerationError):
    """No such testimonial in this workspace."""


class WithdrawnTestimonial(ModerationError):
    """The customer withdrew consent; the testimonial can no longer be shown."""


@dataclass(frozen=True)
class ModerationPage(KeysetPage[Testimonial]):
    show: str = "pending"
    suggested_first: bool = False
    tag: str | None = None


def _loaded() -> Select[Testimonial]:
    return select(Testimonial).options(
        joinedload(Testimonial.response).joinedload(Response.stage),
        joinedload(Testimonial.response).joinedload(Response.touchpoint),
        # One extra query per page for every item's tags, not one per item.
        selectinload(Testimonial.tags),
    )


def _tagged(stmt: Select[Testimonial], tag: str | None, workspace_id: int) -> Select[Testimonial]:
    if not tag:
        return stmt
    # Not correlated: the tag's ids come from one index range, (workspace, tag).
    return stmt.where(
        Testimonial.id.in_(
            select(TestimonialTag.testimonial_id).where(
                TestimonialTag.workspace_id == workspace_id, TestimonialTag.tag == tag
            )
        )
    )


def _shown(stmt: Select[Testimonial], show: str) -> Select[Testimonial]:
    if show == "withdrawn":
        return stmt.where(Testimonial.withdrawn_at.is_not(None))
    if show == "all":
        return stmt
    return stmt.where(Testimonial.status == show, Testimonial.withdrawn_at.is_(None))


def suggestion_score(testimonial: Testimonial) -> float:
    """How good a quote this testimonial would make, from 0 to 1; higher first.

    score = 0.40 * sentiment + 0.25 * specificity + 0.15 * length + 0.20 * rating

    - sentiment: VADER compound mapped from [-1, 1] onto [0, 1];
    - specificity: distinct words that are not stop words, 20 or more = 1;
    - length: 1 from 80 to 300 characters, rising from 0 below 80, falling
      to 0 at 1,000 above 300 (a one-liner says little, an essay is not a quote);
    - rating: the rating on its stage's scale mapped onto [0, 1].

    No comment scores 0 on the first three.
    """
    response = testimonial.response
    comment = (response.comment or "").strip()
    sentiment = ((response.sentiment_compound or 0.0) + 1) / 2 if comment else 0.0
    distinct = {word for word in words_of(comment) if word not in STOP_WORDS}
    specificity = min(len(distinct), 20) / 20
    size = len(comment)
    if size < 80:
        length = size / 80
    elif size <= 300:
        length = 1.0
    else:
        length = max(0.0, (1000 - size) / 700)
    rating = response.stage.rating_scale.normalised(response.rating)
    return 0.40 * sentiment + 0.25 * specificity + 0.15 * length + 0.20 * rating


def suggested(
    session: Session, workspace_id: int, limit: int = SUGGEST_POOL, *, tag: str | None = None
) -> list[Testimonial]:
    """Pending testimonials, best quote first (see `suggestion_score`), newest first on a tie.

    Only the newest `limit` pending ones are scored, so a huge backlog stays quick.
    """
    stmt = _tagged(_shown(_loaded(), "pending"), tag, workspace_id).order_by(
        Testimonial.consented_at.desc(), Testimonial.id.desc()
    )
    rows = list(session.scalars(workspace_scoped(stmt.limit(limit), workspace_id)).unique())
    # sorted() is stable: equal scores keep the newest-first order.
    return sorted(rows, key=suggestion_score, reverse=True)


def cursor_kinds(show: str, suggested_first: bool) -> list[Kind]:
    """What a cursor of this tab holds: (score, id) suggested first, else (consented_at, id)."""
    return [score_key if show == "pending" and suggested_first else time_key, id_key]


def moderation_queue(
    session: Session,
    workspace_id: int,
    show: str = "pending",
    cursor: Cursor | None = None,
    *,
    suggested_first: bool = False,
    per_page: int = PER_PAGE,
    tag: str | None = None,
) -> ModerationPage:
    """One page of a status tab, newest first; pending can be "suggested first" instead.

    Paged from `cursor` (see `cursor_kinds`); `tag` narrows to the
    testimonials carrying that tag. The total is counted up to COUNT_CAP + 1.
    """
    if show not in SHOWS:
        show = "pending"
    counted = _tagged(_shown(select(Testimonial.id), show), tag, workspace_id)
    total = capped_count(session, counted, (Testimonial.workspace_id, workspace_id))
    if show == "pending" and suggested_first:
        ranked = suggested(session, workspace_id, tag=tag)
        page = _ranked_page(ranked, cursor, per_page, min(total, len(ranked)))
    else:
        segment: Segment[Testimonial] = Segment(
            show,
            workspace_scoped(_tagged(_shown(_loaded(), show), tag, workspace_id), workspace_id),
            (Testimonial.consented_at, Testimonial.id),
            True,
            lambda t: (t.consented_at, t.id),
        )

        def run(stmt: Select[Testimonial]) -> list[Testimonial]:
            return list(session.scalars(stmt).unique())

        page = keyset_page([segment], cursor, per_page, run, total)
    return ModerationPage(
        page.items, page.newer, page.older, page.total, show, suggested_first, tag
    )


def _ranked_page(
    ranked: list[Testimonial], cursor: Cursor | None, per_page: int, total: int
) -> KeysetPage[Testimonial]:
    """A page of the suggested order, by (score, id) like any key: the list is ranked in memory.

    A cursor names a testimonial by id; one that has left the list since
    (approved, rejected) is placed by its score.
    """
    scores = [suggestion_score(t) for t in ranked]
    start = 0
    if cursor is not None:
        score, item_id = cursor.values
        at = next((i for i, t in enumerate(ranked) if t.id == item_id), None)
        if at is None:
            at = next((i for i, s in enumerate(scores) if s < score), len(ranked))
            start = at - per_page if cursor.backwards else at
        else:
            start = at - per_page if cursor.backwards else at + 1
        start = max(0, start)
    items = ranked[start : start + per_page]
    if not items and start:
        return _ranked_page(ranked, None, per_page, total)

    def key(i: int) -> str:
        return encode_cursor(scores[i], ranked[i].id)

    end = start + len(items)
    newer = key(start) if start > 0 else None
    older = key(end - 1) if end < len(ranked) else None
    return KeysetPage(items, newer, older, total)


def get_testimonial(session: Session, workspace_id: int, testimonial_id: int) -> Testimonial:
    """One testimonial of this workspace; another workspace's id is `TestimonialNotFound`."""
    stmt = _loaded().where(Testimonial.id == testimonial_id)
    found = session.scalars(workspace_scoped(stmt, workspace_id)).unique().one_or_none()
    if found is None or found.workspace_id != workspace_id:
        raise TestimonialNotFound("No such testimonial.")
    return found


def _showable(testimonial: Testimonial) -> None:
    if testimonial.withdrawn_at is not None:
        raise WithdrawnTestimonial(
            "The customer withdrew their consent, so this testimonial can't be shown."
        )


def approve(
    session: Session, workspace_id: int, testimonial_id: int, user_id: int | None, now: dt.datetime
) -> Testimonial:
    """Approve for display (a featured one stays approved, no longer featured)."""
    return _approve_as("approved", session, workspace_id, testimonial_id, user_id, now)


def feature(
    session: Session, workspace_id: int, testimonial_id: int, user_id: int | None, now: dt.datetime
) -> Testimonial:
    """Feature: approved for display and shown first."""
    return _approve_as("featured", session, workspace_id, testimonial_id, user_id, now)


def _approve_as(
    status: str,
    session: Session,
    workspace_id: int,
    testimonial_id: int,
    user_id: int | None,
    now: dt.datetime,
) -> Testimonial:
    testimonial = get_testimonial(session, workspace_id, testimonial_id)
    _showable(testimonial)
    testimonial.status = status
    testimonial.approved_by_id = user_id
    testimonial.approved_at = now
    return testimonial


def reject(session: Session, workspace_id: int, testimonial_id: int) -> Testimonial:
    """Not to be shown; any earlier approval is cleared."""
    testimonial = get_testimonial(session, workspace_id, testimonial_id)
    testimonial.status = "rejected"
    testimonial.approved_by_id = None
    testimonial.approved_at = None
    return testimonial


def set_excerpt(
    session: Session, workspace_id: int, testimonial_id: int, excerpt: str | None
) -> Testimonial:
    """Set the excerpt shown instead of the whole comment; empty clears it.

    Raises `ExcerptError` unless it only cuts the original (see `check_excerpt`).
    """
    testimonial = get_testimonial(session, workspace_id, testimonial_id)
    if excerpt is None or not excerpt.strip():
        testimonial.excerpt = None
        return testimonial
    testimonial.excerpt = check_excerpt(testimonial.response.comment or "", excerpt)
    return testimonial


def withdraw_on_request(
    session: Session, workspace_id: int, testimonial_id: int, now: dt.datetime
) -> Testimonial:
    """The owner withdraws consent on the customer's behalf: kept on record, never shown again.

    Withdrawing twice keeps the first time.
    """
    testimonial = get_testimonial(session, workspace_id, testimonial_id)
    if testimonial.withdrawn_at is None:
        testimonial.withdrawn_at = now
    return testimonial


# --- Tags and disclosures -------------------------------------------------------------------

TAGS_PER_TESTIMONIAL = 10
_SPACES = re.compile(r"\s+")
# Letters and digits of any script, and "-": a tag goes into ?tag= links and CSS-free markup.
_TAG = re.compile(r"^(?:[^\W_]|-)+$")


def normalise_tag(raw: str) -> str:
    """`raw` as a tag: trimmed, lowercase, inner whitespace as "-"; else `ModerationError`.

    NFKC first, so a tag typed with a composed or a decomposed accent is the
    same tag (and full-width letters become ordinary ones).
    """
    lowered = unicodedata.normalize("NFKC", raw).strip().lower()
    # Lowercasing can leave a string that NFKC would change again ("İ" -> "i̇").
    tag = _SPACES.sub("-", unicodedata.normalize("NFKC", lowered))
    if not tag:
        raise ModerationError("A tag can't be empty.")
    if len(tag) > TAG_MAX:
        raise ModerationError(f"Tag '{tag[:TAG_MAX]}…' is too long: at most {TAG_MAX} characters.")
    if not _TAG.match(tag) or not any(ch.isalnum() for ch in tag):
        raise ModerationError(
            f"Tag '{tag}' may only hold letters, digits and '-' (spaces become '-')."
        )
    return tag


def normalise_tags(raw_tags: Iterable[str]) -> list[str]:
    """Each tag normalised (see `normalise_tag`), duplicates dropped, first-seen order kept."""
    tags: list[str] = []
    for raw in raw_tags:
        tag = normalise_tag(raw)
        if tag not in tags:
            tags.append(tag)
    if len(tags) > TAGS_PER_TESTIMONIAL:
        raise ModerationError(
            f"At most {TAGS_PER_TESTIMONIAL} tags per testimonial; {len(tags)} were given."
        )
    return tags


def tags_from_text(text: str | None) -> list[str]:
    """The comma-separated tags of the inbox's text box, blanks between commas ignored."""
    return [piece for piece in (text or "").split(",") if piece.strip()]


def set_tags(
    session: Session, workspace_id: int, testimonial_id: int, tags: list[str]
) -> Testimonial:
    """Replace the testimonial's tags with `tags`, normalised; an empty list clears them.

    Raises `ModerationError` (nothing changed) if any tag is refused or there
    are more than `TAGS_PER_TESTIMONIAL`.
    """
    testimonial = get_testimonial(session, workspace_id, testimonial_id)
    wanted = normalise_tags(tags)
    have = {row.tag for row in testimonial.tags}
    session.execute(
        delete(TestimonialTag).where(
            TestimonialTag.workspace_id == workspace_id,
            TestimonialTag.testimonial_id == testimonial.id,
            TestimonialTag.tag.not_in(wanted),
        )
    )
    for tag in wanted:
        if tag not in have:
            session.add(
                TestimonialTag(workspace_id=workspace_id, testimonial_id=testimonial.id, tag=tag)
            )
    session.flush()
    # `tags` is a view-only relationship: reload it so callers see the new set.
    session.expire(testimonial, ["tags"])
    return testimonial


def set_material_connection(
    session: Session, workspace_id: int, testimonial_id: int, value: str | None
) -> Testimonial:
    """Record (or clear, with None or "") a tie to disclose next to the quote.

    Allowed even after a withdrawal: the record should be right whatever happens to it.
    """
    testimonial = get_testimonial(session, workspace_id, testimonial_id)
    if value is not None and value != "" and value not in MATERIAL_CONNECTIONS:
        raise ModerationError(
            "A material connection is one of " + ", ".join(MATERIAL_CONNECTIONS) + ", or none."
        )
    testimonial.material_connection = value or None
    return testimonial


# --- Age ------------------------------------------------------------------------------------

MAX_AGE_DAYS_RANGE = (1, 3650)


def age_limit_text(max_age_days: int) -> str:
    """ "2 years" for 730 days, "90 days" for 90: the words of the stale flag."""
    if max_age_days % 365 == 0:
        years = max_age_days // 365
        return f"{years} year{'s' if years != 1 else ''}"
    return f"{max_age_days} day{'s' if max_age_days != 1 else ''}"


def set_max_age_days(session: Session, workspace: Workspace, days: int | None) -> Workspace:
    """Set how old a testimonial may be before it is flagged for re-confirmation."""
    low, high = MAX_AGE_DAYS_RANGE
    if days is None or not low <= days <= high:
        raise ModerationError(f"Enter a whole number of days from {low} to {high}.")
    workspace.testimonial_max_age_days = days
    return workspace


# --- Reuse ----------------------------------------------------------------------------------

# The uses an owner's own actions record; the public pages record theirs themselves.
OWNER_USE_CHANNELS = ("copy", "card")


def quote_of(testimonial: Testimonial) -> str:
    """What is quoted: the owner's verbatim excerpt, else the whole comment ("" if neither)."""
    return testimonial.excerpt or testimonial.response.comment or ""


def is_reusable(testimonial: Testimonial) -> bool:
    """Approved or featured, not withdrawn, with words to quote."""
    return (
        testimonial.status in SHOWN_STATUSES
        and testimonial.withdrawn_at is None
        and bool(quote_of(testimonial).strip())
    )


def reusable(session: Session, workspace_id: int, testimonial_id: int) -> Testimonial:
    """A testimonial that may be copied or put on a card, else `ModerationError`."""
    testimonial = get_testimonial(session, workspace_id, testimonial_id)
    _showable(testimonial)
    if not is_reusable(testimonial):
        raise ModerationError("Only approved testimonials with a comment can be reused.")
    return testimonial


def quote_date(testimonial: Testimonial, timezone: str) -> str:
    """The day the customer gave the quote, in the workspace's time zone: "15 Jun 2026"."""
    day = testimonial.consented_at.astimezone(ZoneInfo(timezone))
    return f"{day.day} {day:%b %Y}"


def agreed_text(testimonial: Testimonial) -> str:
    """Where the customer agreed to be quoted: "Agreed to: on our website only"."""
    channels = testimonial.channel_list
    if channels == ["website"]:
        return "Agreed to: " + CHANNEL_LABELS["website"] + " only"
    labels = [CHANNEL_LABELS[channel] for channel in channels]
    joined = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
    return "Agreed to: " + joined


@dataclass(frozen=True)
class ReuseTexts:
    """Ready-to-paste forms of one testimonial; customer text is plain here, escaped in `html`."""

    plain: str
    html: str
    agreed: str
    social_ok: bool


def _attribution(testimonial: Testimonial) -> str:
    role = testimonial.shown_role
    return f"{testimonial.shown_name}, {role}" if role else testimonial.shown_name


def reuse_texts(testimonial: Testimonial, timezone: str) -> ReuseTexts:
    """The quote as plain text and as an HTML `<blockquote>` snippet, with date and disclosure.

    The HTML escapes every piece of customer text (quote, name, role), so the
    snippet is safe to paste into any page.
    """
    quote = quote_of(testimonial)
    date = quote_date(testimonial, timezone)
    disclosure = testimonial.disclosure
    tail = [date, *([disclosure] if disclosure else [])]
    plain = f"\u201c{quote}\u201d \u2014 {_attribution(testimonial)} \u00b7 " + (
        " \u00b7 ".join(tail)
    )
    iso = testimonial.consented_at.astimezone(ZoneInfo(timezone)).date().isoformat()
    parts = [
        Markup('<blockquote class="testimonial">\n  <p>{}</p>\n').format(quote),
        Markup("  <footer>\u2014 <cite>{}</cite>").format(testimonial.shown_name),
    ]
    if testimonial.shown_role:
        parts.append(Markup(", {}").format(testimonial.shown_role))
    parts.append(Markup(' \u00b7 <time datetime="{}">{}</time>').format(iso, date))
    if disclosure:
        parts.append(Markup(' \u00b7 <small class="disclosure">{}</small>').format(disclosure))
    parts.append(Markup("</footer>\n</blockquote>"))
    return ReuseTexts(
        plain=plain,
        html=str(escape("").join(parts)),
        agreed=agreed_text(testimonial),
        social_ok="social" in testimonial.channel_list,
    )


def record_owner_use(
    session: Session, workspace_id: int, testimonial_id: int, channel: str, now: dt.datetime
) -> Testimonial:
    """Note that the owner copied the quote or took its card; only for reusable ones."""
    if channel not in OWNER_USE_CHANNELS:
        raise ModerationError("Unknown use.")
    testimonial = reusable(session, workspace_id, testimonial_id)
    record_uses(session, workspace_id, [testimonial.id], channel, now)
    return testimonial


def use_lines(uses: list[TestimonialUse], timezone: str) -> list[str]:
    """ "Wall — first 3 Mar 2026, last 20 Nov 2026", one per channel used."""
    zone = ZoneInfo(timezone)

    def day(moment: dt.datetime) -> str:
        local = moment.astimezone(zone)
        return f"{local.day} {local:%b %Y}"

    lines = []
    for use in uses:
        first, last = day(use.first_at), day(use.last_at)
        when = f"on {first}" if first == last else f"first {first}, last {last}"
        lines.append(f"{USE_LABELS[use.channel]} \u2014 {when}")
    return lines


@dataclass(frozen=True)
class PageDetails:
    """What the inbox shows beside each testimonial of a page, keyed by testimonial id."""

    uses: dict[int, list[str]]
    stale: set[int]
    reuse: dict[int, ReuseTexts]
    age_limit: str


def page_details(
    session: Session, workspace: Workspace, items: list[Testimonial], now: dt.datetime
) -> PageDetails:
    """Uses (one query for the page), age flags and reuse snippets of a page of testimonials."""
    found = uses_of(session, workspace.id, [t.id for t in items])
    max_age = workspace.testimonial_max_age_days
    return PageDetails(
        uses={i: use_lines(rows, workspace.timezone) for i, rows in found.items()},
        stale={t.id for t in items if t.needs_reconfirmation(now, max_age)},
        reuse={t.id: reuse_texts(t, workspace.timezone) for t in items if is_reusable(t)},
        age_limit=age_limit_text(max_age),
    )
