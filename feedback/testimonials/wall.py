"""Reading the testimonials a business shows in public: wall, embed widget and feed."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup
from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from feedback.db import workspace_scoped
from feedback.journey.models import Stage
from feedback.journey.scales import SCALES, Scale
from feedback.surveys.models import Response
from feedback.testimonials.models import SHOWN_STATUSES, TAG_MAX, Testimonial, TestimonialTag

# How many tags a wall offers as filters (the most used first).
TAG_FILTERS_MAX = 30


@dataclass(frozen=True)
class ShownTestimonial:
    """One testimonial as the public sees it."""

    id: int
    quote: str
    display_name: str
    role: str | None
    # The material connection to disclose next to the quote (FTC 16 CFR 255.5).
    disclosure: str | None
    date: dt.datetime
    stage_key: str
    stage_name: str
    rating: int
    scale: str
    stars: int
    featured: bool
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class AggregateRating:
    """The mean rating of every response in a scope, on 1-5, and how many there were."""

    value: float | None
    count: int


def out_of_5(scale: Scale, rating: float) -> float:
    """A rating on any scale mapped linearly onto 1..5 (NPS 0 -> 1, 10 -> 5)."""
    return 1 + 4 * scale.normalised(rating)


def stars_for(scale: Scale, rating: int) -> int:
    """Whole stars, 1-5, rounding halves up (NPS 7 -> 3.8 -> 4)."""
    return int(out_of_5(scale, rating) + 0.5)


def valid_tag(tag: str) -> bool:
    """The shape tags are stored in: lowercase letters, digits and "-", 1-40 characters."""
    return (
        0 < len(tag) <= TAG_MAX and all(c.isalnum() or c == "-" for c in tag) and tag == tag.lower()
    )


def _shown_ids(
    workspace_id: int,
    stage_key: str | None,
    tag: str | None = None,
    statuses: tuple[str, ...] = SHOWN_STATUSES,
) -> Select[Any]:
    """Ids of the shown testimonials, in wall order, read from the testimonial table alone.

    Ordering needs no join, so only the page's rows are joined to their
    responses afterwards (a join first would read every shown testimonial's
    response to sort them: 80 ms at 10,000 on PostgreSQL).
    """
    stmt = select(Testimonial.id).where(
        Testimonial.workspace_id == workspace_id,
        Testimonial.status.in_(statuses),
        Testimonial.withdrawn_at.is_(None),
    )
    if stage_key is not None:
        in_stage = (
            select(Response.id)
            .join(Stage, and_(Stage.id == Response.stage_id, Stage.workspace_id == workspace_id))
            .where(Response.workspace_id == workspace_id, Stage.key == stage_key)
        )
        stmt = stmt.where(Testimonial.response_id.in_(in_stage))
    if tag is not None:
        tagged = select(TestimonialTag.testimonial_id).where(
            TestimonialTag.workspace_id == workspace_id, TestimonialTag.tag == tag
        )
        stmt = stmt.where(Testimonial.id.in_(tagged))
    return stmt


def shown_testimonials(
    session: Session,
    workspace_id: int,
    *,
    stage_key: str | None = None,
    tag: str | None = None,
    limit: int | None = None,
) -> list[ShownTestimonial]:
    """Approved and featured testimonials that are not withdrawn: featured first, then newest.

    The quote is the owner's excerpt when there is one (a verbatim part of the
    comment), else the whole comment; one with neither (an opt-in without a
    comment) has nothing to show and is left out.
    """
    shown: list[ShownTestimonial] = []
    # One status at a time: each is then a walk down the index on (workspace,
    # status, withdrawn_at, consented_at) that stops at `limit`, where ordering
    # both at once would sort every shown testimonial.
    for status in ("featured", "approved"):
        ordered = _shown_ids(workspace_id, stage_key, tag, (status,)).order_by(
            Testimonial.consented_at.desc(), Testimonial.id.desc()
        )
        offset = 0
        # Quote-less ones are rare, so this nearly always runs once.
        while limit is None or len(shown) < limit:
            batch = limit - len(shown) if limit is not None else None
            ids = list(session.scalars(ordered.offset(offset).limit(batch)))
            if not ids:
                break
            offset += len(ids)
            shown += [t for t in _load(session, workspace_id, ids) if t.quote]
            if batch is None:
                break
    return shown


def _load(session: Session, workspace_id: int, ids: list[int]) -> list[ShownTestimonial]:
    stmt = (
        select(Testimonial, Response.rating, Response.comment, Stage.key, Stage.name, Stage.scale)
        .join(
            Response,
            and_(
                Response.id == Testimonial.response_id,
                Response.workspace_id == Testimonial.workspace_id,
            ),
        )
        .join(Stage, and_(Stage.id == Response.stage_id, Stage.workspace_id == workspace_id))
        .where(Testimonial.workspace_id == workspace_id, Testimonial.id.in_(ids))
    )
    tags: dict[int, list[str]] = {}
    tag_rows = select(TestimonialTag.testimonial_id, TestimonialTag.tag).where(
        TestimonialTag.workspace_id == workspace_id, TestimonialTag.testimonial_id.in_(ids)
    )
    for testimonial_id, tag in session.execute(tag_rows.order_by(TestimonialTag.tag)):
        tags.setdefault(testimonial_id, []).append(tag)
    found = {}
    for testimonial, rating, comment, key, name, scale_key in session.execute(
        workspace_scoped(stmt, workspace_id)
    ):
        found[testimonial.id] = ShownTestimonial(
            id=testimonial.id,
            quote=testimonial.excerpt or comment or "",
            display_name=testimonial.shown_name,
            role=testimonial.shown_role,
            disclosure=testimonial.disclosure,
            date=testimonial.consented_at,
            stage_key=key,
            stage_name=name,
            rating=rating,
            scale=scale_key,
            stars=stars_for(SCALES[scale_key], rating),
            featured=testimonial.status == "featured",
            tags=tuple(tags.get(testimonial.id, ())),
        )
    return [found[i] for i in ids if i in found]


def count_shown(
    session: Session, workspace_id: int, *, stage_key: str | None = None, tag: str | None = None
) -> int:
    """How many approved or featured testimonials are not withdrawn (quote-less ones included)."""
    inner = _shown_ids(workspace_id, stage_key, tag).subquery()
    return session.scalar(select(func.count()).select_from(inner)) or 0


def shown_tags(session: Session, workspace_id: int, limit: int = TAG_FILTERS_MAX) -> list[str]:
    """Tags with at least one shown testimonial, the most used first, for the filters.

    Counted over the tag index alone; each tag is then kept only if some shown
    testimonial carries it (usually its first), so no tag row is joined to
    its testimonial just to be counted.
    """
    tags = TestimonialTag.__table__.alias("tags")
    on_show = (
        select(TestimonialTag.id)
        .join(
            Testimonial,
            and_(
                Testimonial.id == TestimonialTag.testimonial_id,
                Testimonial.workspace_id == workspace_id,
            ),
        )
        .where(
            TestimonialTag.workspace_id == workspace_id,
            TestimonialTag.tag == tags.c.tag,
            Testimonial.status.in_(SHOWN_STATUSES),
            Testimonial.withdrawn_at.is_(None),
        )
        .exists()
    )
    stmt = (
        select(tags.c.tag)
        .where(tags.c.workspace_id == workspace_id)
        .group_by(tags.c.tag)
        .having(on_show)
        .order_by(func.count().desc(), tags.c.tag)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def json_for_script(data: object) -> Markup:
    """JSON safe inside an HTML `<script>` element: no `</script>` or `<!--` can break out."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    # Line and paragraph separators are valid in JSON but not in older JavaScript strings.
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return Markup(text)


def structured_data(
    business: str,
    rating: AggregateRating,
    testimonials: list[ShownTestimonial],
    local_date: dict[int, str],
) -> dict[str, object]:
    """schema.org Organization with its AggregateRating and one Review per testimonial."""
    data: dict[str, object] = {
        "@context": "https://schema.org",
        "@type": "Organization",
        "name": business,
    }
    if rating.count and rating.value is not None:
        data["aggregateRating"] = {
            "@type": "AggregateRating",
            "ratingValue": rating.value,
            "ratingCount": rating.count,
            "bestRating": 5,
            "worstRating": 1,
        }
    if testimonials:
        data["review"] = [
            {
                "@type": "Review",
                "author": {"@type": "Person", "name": t.display_name},
                # schema.org has no field for it, so the disclosure travels with the words.
                **({"description": t.disclosure} if t.disclosure else {}),
                "reviewBody": t.quote,
                "datePublished": local_date[t.id],
                "reviewRating": {
                    "@type": "Rating",
                    "ratingValue": t.stars,
                    "bestRating": 5,
                    "worstRating": 1,
                },
            }
            for t in testimonials
        ]
    return data
