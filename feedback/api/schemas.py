"""The JSON API's request and response bodies.

These pydantic models validate what comes in and are what the OpenAPI
document is generated from, so the document cannot drift from the code.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)

from feedback.inputs import moment_in_range
from feedback.insights.services import EARLIEST_DAY, LATEST_DAY
from feedback.surveys.models import CHANNELS, INVITATION_STATUSES, SENTIMENT_LABELS
from feedback.surveys.services import InvalidInvitation, valid_email
from feedback.testimonials.models import (
    MATERIAL_CONNECTIONS,
    TESTIMONIAL_STATUSES,
    USE_CHANNELS,
)
from feedback.text import refuse_control_characters

BULK_MAX_EVENTS = 1000
RESPONSES_MAX_LIMIT = 500

InvitationStatus = Literal[INVITATION_STATUSES]  # type: ignore[valid-type]
SentimentLabel = Literal[SENTIMENT_LABELS]  # type: ignore[valid-type]
TestimonialStatus = Literal[TESTIMONIAL_STATUSES]  # type: ignore[valid-type]
MaterialConnection = Literal[MATERIAL_CONNECTIONS]  # type: ignore[valid-type]
ConsentChannel = Literal[CHANNELS]  # type: ignore[valid-type]
UseChannel = Literal[USE_CHANNELS]  # type: ignore[valid-type]


def _as_utc(moment: dt.datetime) -> dt.datetime:
    # A time without a zone is taken as UTC, as in the CSV import.
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_text(value: object) -> object:
    # Dates and times come as ISO 8601 text; pydantic would also take a number
    # as seconds since 1970, which no client means.
    if isinstance(value, dt.date) or (isinstance(value, str) and ISO_DATE.match(value)):
        return value
    raise ValueError("must be an ISO 8601 date or time, like 2026-06-15 or 2026-06-15T09:30:00Z")


# In UTC and within the window every part can hold (a year-9999 time in a
# western zone overflows on its way to UTC).
Moment = Annotated[
    dt.datetime,
    BeforeValidator(_iso_text),
    AfterValidator(_as_utc),
    AfterValidator(moment_in_range),
]
Day = Annotated[dt.date, BeforeValidator(_iso_text)]
# Matched exactly later, so refused rather than cleaned when they hold a control character.
Identifier = Annotated[str, AfterValidator(refuse_control_characters)]
Key = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9_-]*$")]


# -- requests ------------------------------------------------------------------


class ContactIn(BaseModel):
    """The customer the survey goes to."""

    model_config = ConfigDict(str_strip_whitespace=True)

    email: str = Field(max_length=254, description="Matched case-insensitively.")
    name: str | None = Field(default=None, max_length=120)
    external_id: Identifier | None = Field(
        default=None, max_length=120, description="Your system's id for the customer."
    )

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        try:
            return valid_email(value)
        except InvalidInvitation as error:
            raise ValueError("is not a valid email address") from error


class TouchpointIn(BaseModel):
    """Something that happened to a customer: a call, a delivery, a solved ticket."""

    contact: ContactIn
    stage: Key = Field(description="A stage key, e.g. `purchase`.")
    touchpoint: Key = Field(description="A touchpoint key of that stage, e.g. `checkout`.")
    event_id: Identifier | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Your id for the event; the same id again returns the same invitation "
        "and sends nothing.",
    )
    occurred_at: Moment | None = Field(
        default=None, description="ISO 8601; without a zone it is taken as UTC."
    )
    send: StrictBool = Field(default=True, description="Email the survey link to the contact.")


class BulkTouchpointsIn(BaseModel):
    events: list[TouchpointIn] = Field(max_length=BULK_MAX_EVENTS)


class ResponsesQuery(BaseModel):
    # An unknown parameter is most likely a typo ("stge"): say so rather than ignore it.
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=100, ge=1, le=RESPONSES_MAX_LIMIT)
    cursor: str | None = Field(
        default=None, max_length=200, description="`next_cursor` of the previous page."
    )
    stage: Key | None = None
    touchpoint: Key | None = None
    since: Moment | None = Field(default=None, description="Submitted at or after.")
    until: Moment | None = Field(default=None, description="Submitted before.")
    label: SentimentLabel | None = None
    q: str | None = Field(
        default=None,
        max_length=100,
        description=(
            "Full-text search of comments and customers' names, as the responses page's:"
            ' words (all must match, in any of their forms) and "quoted phrases".'
        ),
    )


class TestimonialsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(default=100, ge=1, le=RESPONSES_MAX_LIMIT)
    cursor: str | None = Field(default=None, max_length=200)
    status: TestimonialStatus | None = None


class TestimonialPatch(BaseModel):
    """A moderation decision: a new status, an excerpt, or both."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["approved", "rejected", "featured"] | None = Field(
        default=None, description="Featured is approved and shown first."
    )
    excerpt: str | None = Field(
        default=None,
        max_length=4000,
        description=(
            "Verbatim pieces of the comment, cuts marked with '…' (or '...');"
            " an empty string clears it."
        ),
    )

    # Loose here on purpose: which tags are allowed is the moderation service's
    # rule (`normalise_tag`), and its message says exactly what is wrong.
    tags: list[Annotated[str, Field(max_length=200)]] | None = Field(
        default=None,
        max_length=50,
        description=(
            "Replaces all tags; [] clears them. Each is trimmed, lowercased, inner spaces become"
            " '-'; letters, digits and '-' only, 1-40 characters, at most 10 distinct tags."
        ),
    )
    material_connection: MaterialConnection | None = Field(
        default=None,
        description=(
            "A tie to disclose next to the quote (employee, gifted, incentive, relative);"
            " null clears it. Leave out to keep it as it is."
        ),
    )

    @model_validator(mode="after")
    def _something(self) -> TestimonialPatch:
        if (
            self.status is None
            and self.excerpt is None
            and self.tags is None
            and "material_connection" not in self.model_fields_set
        ):
            raise ValueError("send a status, an excerpt, tags, a material_connection, or several")
        return self


# -- answers -------------------------------------------------------------------


class InvitationOut(BaseModel):
    id: int
    url: str | None = Field(
        description="The personal survey link; only in the answer that created a sendable "
        "invitation (the link is not stored)."
    )
    status: InvitationStatus
    expires_at: dt.datetime


class TouchpointOut(BaseModel):
    invitation: InvitationOut


class ErrorBody(BaseModel):
    code: str
    message: str
    fields: dict[str, str] = Field(default_factory=dict)


class ErrorEnvelope(BaseModel):
    error: ErrorBody


class BulkItemOut(BaseModel):
    """201 created, 200 seen before (same event_id), 409 the event_id was used for
    another contact or touchpoint, or 422 with the reason."""

    status: Literal[200, 201, 409, 422]
    invitation: InvitationOut | None = None
    error: ErrorBody | None = None


class BulkTouchpointsOut(BaseModel):
    results: list[BulkItemOut]


class TouchpointSummary(BaseModel):
    key: str
    name: str
    channel: str


class StagesQuery(BaseModel):
    """The period of the figures: days of the workspace's calendar, both ends included."""

    model_config = ConfigDict(extra="forbid")

    since: Day | None = Field(
        default=None,
        ge=EARLIEST_DAY,
        le=LATEST_DAY,
        description="First day (default: 29 days before `until`).",
    )
    until: Day | None = Field(
        default=None, ge=EARLIEST_DAY, le=LATEST_DAY, description="Last day (default: today)."
    )

    @model_validator(mode="after")
    def _ordered(self) -> StagesQuery:
        if self.since and self.until and self.until < self.since:
            raise ValueError("until is before since")
        return self


class StageOut(BaseModel):
    key: str
    name: str
    position: int
    question: str
    scale: str
    scale_min: int
    scale_max: int
    active: bool
    touchpoints: list[TouchpointSummary]
    # The figures of the period, the same numbers the dashboard shows.
    responses: int
    invitations_sent: int
    response_rate: float | None = Field(description="Personal links answered per survey sent.")
    average_rating: float | None
    nps: float | None = Field(description="Only for stages rated 0-10.")
    mean_sentiment: float | None
    positive: int
    neutral: int
    negative: int
    open_follow_ups: int
    overdue_follow_ups: int


class StagesOut(BaseModel):
    since: dt.date
    until: dt.date
    data: list[StageOut]


class SentimentOut(BaseModel):
    compound: float
    label: SentimentLabel


class ResponseOut(BaseModel):
    id: int
    stage: str
    touchpoint: str
    rating: int
    comment: str | None
    sentiment: SentimentOut | None
    testimonial_opt_in: bool
    submitted_at: dt.datetime


class ResponsesOut(BaseModel):
    data: list[ResponseOut]
    next_cursor: str | None


class TestimonialOut(BaseModel):
    id: int
    response_id: int
    stage: str
    touchpoint: str
    rating: int
    quote: str | None = Field(description="The owner's excerpt if set, else the comment.")
    excerpt: str | None = Field(description="The owner's verbatim cut of the comment, if any.")
    comment: str | None = Field(description="The customer's original comment, never edited.")
    sentiment: SentimentOut | None
    display_name: str = Field(description="The name to show, or 'A verified customer'.")
    display_role: str | None = Field(description="Role or company, shown only with the name.")
    status: TestimonialStatus
    consented_at: dt.datetime
    consent_version: int
    tags: list[str]
    channels: list[ConsentChannel] = Field(description="Where the customer agreed to be quoted.")
    material_connection: MaterialConnection | None
    disclosure: str | None = Field(description="The text to show next to the quote, if any.")
    stale: bool = Field(
        description=(
            "Older than the workspace's limit and neither rejected nor withdrawn:"
            " ask the customer to re-confirm."
        )
    )
    withdrawn_at: dt.datetime | None
    used_on: list[UseChannel] = Field(description="Where it has been published so far.")


class TestimonialsOut(BaseModel):
    data: list[TestimonialOut]
    next_cursor: str | None
