"""What the API's views call: touchpoints in, stages, responses and testimonials out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, joinedload, selectinload

from feedback import paging
from feedback.accounts.models import Workspace
from feedback.api.errors import ApiError, invalid
from feedback.api.schemas import (
    BULK_MAX_EVENTS,
    BulkItemOut,
    InvitationOut,
    ResponseOut,
    ResponsesQuery,
    SentimentOut,
    StageOut,
    StagesQuery,
    TestimonialOut,
    TestimonialPatch,
    TestimonialsQuery,
    TouchpointIn,
    TouchpointSummary,
)
from feedback.db import workspace_scoped
from feedback.followups.services import follow_up_counts
from feedback.insights.queries import matching_keys, responses_by_id
from feedback.insights.search import narrow_to_text
from feedback.insights.services import EARLIEST_DAY, Period, journey_summary
from feedback.journey.models import Stage, Touchpoint
from feedback.journey.scales import SCALES
from feedback.journey.services import UnknownStage, UnknownTouchpoint, stages_in_order
from feedback.surveys.models import Response
from feedback.surveys.services import survey_url
from feedback.surveys.touchpoints import (
    EventIdConflict,
    RecordedTouchpoint,
    TouchpointEvent,
    record_touchpoints,
)
from feedback.testimonials import services as moderation
from feedback.testimonials.models import Testimonial
from feedback.testimonials.usage import uses_of

MAX_PERIOD_DAYS = 3 * 366


@dataclass(frozen=True)
class Links:
    """What building survey links needs, from the app's configuration."""

    base_url: str
    secret_key: str


def event_of(item: TouchpointIn) -> TouchpointEvent:
    return TouchpointEvent(
        email=item.contact.email,
        name=item.contact.name,
        external_id=item.contact.external_id,
        stage=item.stage,
        touchpoint=item.touchpoint,
        event_id=item.event_id,
        occurred_at=item.occurred_at,
        send=item.send,
    )


def invitation_out(recorded: RecordedTouchpoint, base_url: str) -> InvitationOut:
    invitation = recorded.invitation
    # The raw token exists only in the answer that created the invitation, and
    # a throttled or unsubscribed link could never be answered anyway.
    url = (
        survey_url(base_url, recorded.token)
        if recorded.token is not None and invitation.status == "queued"
        else None
    )
    return InvitationOut(
        id=invitation.id, url=url, status=invitation.status, expires_at=invitation.expires_at
    )


def _failed_item(error: ApiError) -> BulkItemOut:
    # Validated as the API answers it: a status the schema allows, and the error body.
    return BulkItemOut.model_validate({"status": error.status, "error": error.body()["error"]})


def _item_error(error: Exception) -> ApiError:
    if isinstance(error, EventIdConflict):
        return ApiError(409, str(error), fields={"event_id": "used before for another event"})
    if isinstance(error, UnknownStage):
        return ApiError(422, "The workspace has no such stage.", fields={"stage": "unknown stage"})
    if isinstance(error, UnknownTouchpoint):
        return ApiError(
            422,
            "The stage has no such touchpoint.",
            fields={"touchpoint": "unknown touchpoint for this stage"},
        )
    return ApiError(422, str(error), fields={"contact.email": str(error)})


def record_one(
    session: Session, workspace: Workspace, item: TouchpointIn, *, now: dt.datetime, links: Links
) -> tuple[InvitationOut, bool]:
    """The invitation for one event and whether it is new; ApiError(422 or 409) if refused."""
    [outcome] = record_touchpoints(
        session,
        workspace,
        [event_of(item)],
        now=now,
        base_url=links.base_url,
        secret_key=links.secret_key,
    )
    if isinstance(outcome, Exception):
        raise _item_error(outcome)
    return invitation_out(outcome, links.base_url), outcome.created


def parse_bulk(body: Any) -> list[Any]:
    """The raw events of a bulk request: 413 beyond the limit, 422 when not a list."""
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise ApiError(
            422, "The body must be an object with a list 'events'.", fields={"events": "required"}
        )
    events = body["events"]
    if len(events) > BULK_MAX_EVENTS:
        raise ApiError(
            413, f"At most {BULK_MAX_EVENTS} events per request; split the batch.", code="too_many"
        )
    return events


def record_bulk(
    session: Session,
    workspace: Workspace,
    raw_events: Sequence[Any],
    *,
    now: dt.datetime,
    links: Links,
) -> list[BulkItemOut]:
    """Each event validated and recorded on its own merits; results in request order."""
    results: list[BulkItemOut | None] = [None] * len(raw_events)
    valid: list[tuple[int, TouchpointIn]] = []
    for index, raw in enumerate(raw_events):
        try:
            valid.append((index, TouchpointIn.model_validate(raw)))
        except ValidationError as error:
            results[index] = _failed_item(invalid(error))
    outcomes = record_touchpoints(
        session,
        workspace,
        [event_of(item) for _, item in valid],
        now=now,
        base_url=links.base_url,
        secret_key=links.secret_key,
    )
    for (index, _), outcome in zip(valid, outcomes, strict=True):
        if isinstance(outcome, Exception):
            results[index] = _failed_item(_item_error(outcome))
        else:
            results[index] = BulkItemOut(
                status=201 if outcome.created else 200,
                invitation=invitation_out(outcome, links.base_url),
            )
    return [r for r in results if r is not None]


def stages_out(
    session: Session, workspace: Workspace, period: Period, now: dt.datetime
) -> list[StageOut]:
    """The journey with each stage's figures over `period` (from the rollup)."""
    touchpoints = {stage.id: stage.touchpoints for stage in stages_in_order(session, workspace.id)}
    follow_ups = follow_up_counts(session, workspace.id, now)
    return [
        StageOut(
            key=s.stage.key,
            name=s.stage.name,
            position=s.stage.position,
            question=s.stage.question,
            scale=s.stage.scale,
            scale_min=SCALES[s.stage.scale].low,
            scale_max=SCALES[s.stage.scale].high,
            active=s.stage.active,
            touchpoints=[
                TouchpointSummary(key=t.key, name=t.name, channel=t.channel)
                for t in touchpoints[s.stage.id]
            ],
            responses=s.responses,
            invitations_sent=s.invitations_sent,
            response_rate=s.response_rate,
            average_rating=s.average_rating,
            nps=s.nps,
            mean_sentiment=s.mean_sentiment,
            positive=s.positive,
            neutral=s.neutral,
            negative=s.negative,
            open_follow_ups=follow_ups.get(s.stage.id, (0, 0))[0],
            overdue_follow_ups=follow_ups.get(s.stage.id, (0, 0))[1],
        )
        for s in journey_summary(session, workspace.id, period.first_day, period.last_day)
    ]


def stages_period(query: StagesQuery, today: dt.date) -> Period:
    """The query's period; 30 days to today by default, three years at most."""
    until = query.until or today
    since = query.since or max(EARLIEST_DAY, until - dt.timedelta(days=29))
    if until < since:
        raise ApiError(422, "until is before since.", fields={"until": "before since"})
    if (until - since).days >= MAX_PERIOD_DAYS:
        raise ApiError(
            422,
            f"The period may be at most {MAX_PERIOD_DAYS} days.",
            fields={"since": f"at most {MAX_PERIOD_DAYS} days before until"},
        )
    return Period(since, until)


# -- cursor pagination ---------------------------------------------------------
# A cursor names the last item of a page by (time, id), the order's keys, so a
# page never repeats or skips items when new ones arrive meanwhile. The format
# is feedback.paging's, shared with the owner lists.


def decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    """The (time, id) a cursor names; 422 for anything `encode_cursor` cannot have made.

    A cursor comes back from the client, so it is checked like any input: a
    forged one with a huge id or a year-9999 time must not reach the query.
    """
    try:
        moment, item_id = paging.decode_cursor(cursor, (paging.time_key, paging.id_key))
    except paging.BadCursor:
        raise ApiError(
            422,
            "The cursor is not one this API gave out.",
            fields={"cursor": "not a cursor from next_cursor"},
        ) from None
    return moment, item_id


def _after(stmt: Select[Any], time_column: Any, id_column: Any, cursor: str | None) -> Select[Any]:
    if cursor is None:
        return stmt
    return stmt.where(paging.beyond((time_column, id_column), decode_cursor(cursor), True))


def _stage_ids(workspace_id: int, key: str) -> Select[Any]:
    return workspace_scoped(select(Stage.id).where(Stage.key == key), workspace_id)


def _responses_matching(
    session: Session, workspace_id: int, query: ResponsesQuery, *, in_time_order: bool
) -> Select[Response]:
    stmt = select(Response)
    if query.stage is not None:
        stmt = stmt.where(Response.stage_id.in_(_stage_ids(workspace_id, query.stage)))
    if query.touchpoint is not None:
        stmt = stmt.where(
            Response.touchpoint_id.in_(
                workspace_scoped(
                    select(Touchpoint.id).where(Touchpoint.key == query.touchpoint),
                    workspace_id,
                )
            )
        )
    if query.since is not None:
        stmt = stmt.where(Response.submitted_at >= query.since)
    if query.until is not None:
        stmt = stmt.where(Response.submitted_at < query.until)
    if query.label is not None:
        stmt = stmt.where(Response.sentiment_label == query.label)
    if query.q is not None and query.q.strip():
        stmt = narrow_to_text(stmt, query.q, session, in_time_order=in_time_order)
    return workspace_scoped(stmt, workspace_id)


def responses_out(
    session: Session, workspace_id: int, query: ResponsesQuery
) -> tuple[list[ResponseOut], str | None]:
    """One page of responses, newest first, and the cursor of the next page (None at the end).

    A search reads its matches' keys first, as the responses page does
    (`matching_keys`): at most COUNT_CAP of them are the whole list, paged here.
    """
    rows: list[Response]
    if query.q is not None and query.q.strip():
        stmt = _responses_matching(session, workspace_id, query, in_time_order=False)
        keys = matching_keys(session, workspace_id, stmt)
        if len(keys) <= paging.COUNT_CAP:
            keys.sort(reverse=True)
            if query.cursor is not None:
                bound = decode_cursor(query.cursor)
                keys = [k for k in keys if k < bound]
            wanted = keys[: query.limit + 1]
            by_id = responses_by_id(session, workspace_id, [id_ for _, id_ in wanted])
            rows = [by_id[id_] for _, id_ in wanted]
        else:
            rows = _responses_in_time_order(session, workspace_id, query)
    else:
        rows = _responses_in_time_order(session, workspace_id, query)
    page = rows[: query.limit]
    items = [
        ResponseOut(
            id=r.id,
            stage=r.stage.key,
            touchpoint=r.touchpoint.key,
            rating=r.rating,
            comment=r.comment,
            sentiment=SentimentOut(compound=r.sentiment_compound, label=r.sentiment_label)
            if r.sentiment_label is not None and r.sentiment_compound is not None
            else None,
            testimonial_opt_in=r.testimonial_opt_in,
            submitted_at=r.submitted_at,
        )
        for r in page
    ]
    more = len(rows) > query.limit
    return items, paging.encode_cursor(page[-1].submitted_at, page[-1].id) if more else None


def _responses_in_time_order(
    session: Session, workspace_id: int, query: ResponsesQuery
) -> list[Response]:
    stmt = _responses_matching(session, workspace_id, query, in_time_order=True).options(
        joinedload(Response.stage), joinedload(Response.touchpoint)
    )
    stmt = _after(stmt, Response.submitted_at, Response.id, query.cursor)
    stmt = stmt.order_by(Response.submitted_at.desc(), Response.id.desc()).limit(query.limit + 1)
    return list(session.scalars(stmt))


def testimonial_out(t: Testimonial, *, stale: bool, used_on: list[str]) -> TestimonialOut:
    """One testimonial as the API shows it."""
    response = t.response
    sentiment = (
        SentimentOut(compound=response.sentiment_compound, label=response.sentiment_label)
        if response.sentiment_label is not None and response.sentiment_compound is not None
        else None
    )
    return TestimonialOut(
        id=t.id,
        response_id=t.response_id,
        stage=response.stage.key,
        touchpoint=response.touchpoint.key,
        rating=response.rating,
        quote=t.excerpt or response.comment,
        excerpt=t.excerpt,
        comment=response.comment,
        sentiment=sentiment,
        display_name=t.shown_name,
        display_role=t.shown_role,
        status=t.status,
        consented_at=t.consented_at,
        consent_version=t.consent_version,
        tags=[tag.tag for tag in t.tags],
        channels=t.channel_list,
        material_connection=t.material_connection,
        disclosure=t.disclosure,
        stale=stale,
        withdrawn_at=t.withdrawn_at,
        used_on=used_on,
    )


def _out(
    session: Session,
    workspace_id: int,
    testimonials: list[Testimonial],
    now: dt.datetime,
    max_age_days: int,
) -> list[TestimonialOut]:
    # One query for the uses of the whole page, not one per testimonial.
    uses = uses_of(session, workspace_id, [t.id for t in testimonials])
    return [
        testimonial_out(
            t,
            stale=t.needs_reconfirmation(now, max_age_days),
            used_on=[use.channel for use in uses[t.id]],
        )
        for t in testimonials
    ]


def moderate_testimonial(
    session: Session,
    workspace_id: int,
    testimonial_id: int,
    patch: TestimonialPatch,
    user_id: int | None,
    now: dt.datetime,
    *,
    max_age_days: int,
) -> TestimonialOut:
    """Apply a PATCH: 404 for another workspace's id, 422 for a bad excerpt or tag, 409 withdrawn.

    Nothing is changed unless all of it can be; the caller commits (or rolls
    back on `ApiError`).
    """
    try:
        if patch.excerpt is not None:
            moderation.set_excerpt(session, workspace_id, testimonial_id, patch.excerpt)
        if patch.tags is not None:
            try:
                moderation.set_tags(session, workspace_id, testimonial_id, patch.tags)
            except moderation.TestimonialNotFound:
                raise
            except moderation.ModerationError as error:
                raise ApiError(
                    422, "Some fields are missing or wrong: tags", fields={"tags": str(error)}
                ) from error
        if "material_connection" in patch.model_fields_set:
            moderation.set_material_connection(
                session, workspace_id, testimonial_id, patch.material_connection
            )
        if patch.status == "approved":
            moderation.approve(session, workspace_id, testimonial_id, user_id, now)
        elif patch.status == "featured":
            moderation.feature(session, workspace_id, testimonial_id, user_id, now)
        elif patch.status == "rejected":
            moderation.reject(session, workspace_id, testimonial_id)
        testimonial = moderation.get_testimonial(session, workspace_id, testimonial_id)
    except moderation.TestimonialNotFound as error:
        raise ApiError(404, "There is no such testimonial.") from error
    except moderation.ExcerptError as error:
        raise ApiError(
            422, "Some fields are missing or wrong: excerpt", fields={"excerpt": str(error)}
        ) from error
    except moderation.WithdrawnTestimonial as error:
        raise ApiError(409, str(error)) from error
    return _out(session, workspace_id, [testimonial], now, max_age_days)[0]


def testimonials_out(
    session: Session,
    workspace_id: int,
    query: TestimonialsQuery,
    *,
    now: dt.datetime,
    max_age_days: int,
) -> tuple[list[TestimonialOut], str | None]:
    """Consents not withdrawn, newest first; `status` narrows to e.g. approved ones."""
    stmt = (
        select(Testimonial)
        .options(
            joinedload(Testimonial.response).joinedload(Response.stage),
            joinedload(Testimonial.response).joinedload(Response.touchpoint),
            selectinload(Testimonial.tags),
        )
        .where(Testimonial.withdrawn_at.is_(None))
    )
    if query.status is not None:
        stmt = stmt.where(Testimonial.status == query.status)
    stmt = _after(stmt, Testimonial.consented_at, Testimonial.id, query.cursor)
    stmt = stmt.order_by(Testimonial.consented_at.desc(), Testimonial.id.desc()).limit(
        query.limit + 1
    )
    rows = list(session.scalars(workspace_scoped(stmt, workspace_id)).unique())
    page = rows[: query.limit]
    items = _out(session, workspace_id, page, now, max_age_days)
    more = len(rows) > query.limit
    return items, paging.encode_cursor(page[-1].consented_at, page[-1].id) if more else None
