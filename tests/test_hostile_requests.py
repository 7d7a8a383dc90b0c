"""Every route of the app, driven with hostile path, query and form values, never answers 5xx.

The routes are read from `app.url_map` when the test runs, so a route added
later is walked without editing this file. Each path argument gets values
for its converter (ids no column can hold, negative, zero, other scripts'
digits, NUL, long text, `../`, percent-encodings, markup) beside real ones,
so the hostile query strings also reach the code behind a found row.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_wtf import FlaskForm
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.routing import AnyConverter, IntegerConverter, PathConverter, Rule
from wtforms.fields.core import UnboundField

from feedback.accounts.models import ApiKey
from feedback.accounts.services import create_api_key
from feedback.db import utcnow
from feedback.delivery.models import OutboxMessage
from feedback.journey.models import Stage, Touchpoint
from feedback.surveys.models import Response
from feedback.testimonials.consent import issue_consent_link
from feedback.testimonials.models import Testimonial
from tests.factories import NOW, PASSWORD, make_invitation, make_owner, make_response
from tests.pages import csrf_token_from
from tests.support.clients import AuthActions

# The query parameters the views read (grep request.args, the GET forms),
# the API's, and the login page's `next`; random names are added below.
KNOWN_PARAMETERS = (
    "stage",
    "touchpoint",
    "tp",
    "q",
    "cursor",
    "since",
    "until",
    "label",
    "days",
    "from",
    "to",
    "page",
    "limit",
    "tag",
    "layout",
    "rating_min",
    "rating_max",
    "opted_in",
    "mismatch",
    "show",
    "order",
    "channel",
    "status",
    "ask",
    "unhappy",
    "next",
)

# Beside the fields of every form the app defines (read at run time), names
# of fields a view might read from request.form directly.
EXTRA_FORM_FIELDS = ("submission_key", "events", "workspace_id", "next", "channel")


def form_field_names() -> list[str]:
    """The field names of every FlaskForm subclass loaded, so new forms are covered too."""
    names = set(EXTRA_FORM_FIELDS)
    pending: list[type] = [FlaskForm]
    while pending:
        form_class = pending.pop()
        pending.extend(form_class.__subclasses__())
        for klass in form_class.__mro__:
            names.update(k for k, v in vars(klass).items() if isinstance(v, UnboundField))
    return sorted(names)


HOSTILE_INTS = (
    "0",
    "-1",
    "2147483647",
    "2147483648",
    "9223372036854775807",
    "9223372036854775808",
    "99999999999999999999",
    "1" * 60,
    "٣",  # an Arabic-Indic three: \d matches it
    "00000000000000000000001",
    "1e3",
    "0x10",
)
HOSTILE_TEXT = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "../",
    "../../etc/passwd",
    "..%2f..%2f",
    "%00",
    "%",
    "%zz",
    "%252e%252e%252f",
    "<script>alert(1)</script>",
    "\"'><img src=x onerror=alert(1)>",
    "'; DROP TABLE response; --",
    "\u202e\u0000\ufeff",
    "é" * 300,
    "x" * 5000,
    "😀" * 50,
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "2026-02-30",
    "NaN",
    "-0",
    "true",
    "null",
    "[]",
    "{}",
    "\r\nSet-Cookie: x=1",
    "//evil.example.com",
    "https://evil.example.com/",
    "javascript:alert(1)",
)

texts = st.text(max_size=40)
hostile_value = st.one_of(
    st.sampled_from(HOSTILE_INTS),
    st.sampled_from(HOSTILE_TEXT),
    st.integers().map(str),
    texts,
)
parameter_names = st.one_of(st.sampled_from(KNOWN_PARAMETERS), st.text(min_size=1, max_size=12))
# Query strings a parser might trip on, sent as they are.
RAW_QUERIES = ("&", "&&", "=", "=x", "a=%", "a=%zz", "a=%00", "%00=1", "a[b]=1", "a=1&a=2&a=3")
query_strings = st.one_of(
    st.lists(st.tuples(parameter_names, hostile_value), max_size=4).map(
        lambda pairs: urlencode(pairs)
    ),
    st.sampled_from(RAW_QUERIES),
)
# The API's body fields (its own schemathesis tests generate valid-shaped bodies).
API_FIELDS = (
    "events",
    "contact",
    "email",
    "name",
    "external_id",
    "stage",
    "touchpoint",
    "event_id",
    "occurred_at",
    "send",
    "status",
    "excerpt",
    "tags",
    "material_connection",
)
json_bodies = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | hostile_value,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(API_FIELDS), children)
    ),
    max_leaves=8,
)

# End the session the walk runs in; their own tests cover them.
SKIPPED = {("POST", "/logout"), ("POST", "/account/logout-everywhere")}
EXAMPLES_PER_METHOD = 6


@dataclass
class World:
    """A workspace with data, and what the walk needs to reach it."""

    client: FlaskClient
    auth: AuthActions
    email: str
    api_key: str
    csrf_token: str
    known: dict[str, list[str]]  # path argument name -> real values

    def login(self) -> None:
        if self.client.get("/dashboard").status_code != 200:
            self.auth.login(self.email, PASSWORD)
            self.csrf_token = csrf_token_from(self.client.get("/settings"))


@pytest.fixture
def world(app: Flask, client: FlaskClient, db_session: Session, auth: AuthActions) -> World:
    app.config["API_RATE_LIMIT"] = "100000/minute"
    user, workspace = make_owner(db_session)
    now = utcnow()
    # Answers of every sort: a happy one, an unhappy one (a follow-up), a quotable one.
    make_response(db_session, workspace, now=now - dt.timedelta(days=2))
    unhappy = make_response(
        db_session, workspace, rating=1, comment="Late, broken and rude.", now=now
    )
    quoted = make_response(
        db_session,
        workspace,
        stage="retention",
        touchpoint="support-ticket-solved",
        opt_in=True,
        display_name="Ann",
        comment="Wonderful help, fixed at once.",
        now=now - dt.timedelta(days=1),
    )
    testimonial = db_session.scalars(
        select(Testimonial).where(Testimonial.response_id == quoted.id)
    ).one()
    consent_token = issue_consent_link(db_session, testimonial, now)
    survey = make_invitation(db_session, workspace, stage="advocacy", touchpoint="renewal", now=now)
    issued_key = create_api_key(db_session, workspace, "walk", NOW)
    db_session.commit()

    def ids(column: Any) -> list[str]:
        return [str(i) for i in db_session.scalars(select(column).order_by(column.desc()))]

    auth.login(user.email, PASSWORD)
    known = {
        "token": [survey.token, consent_token],
        "slug": [workspace.slug],
        "workspace_slug": [workspace.slug],
        "stage_key": ["purchase", "retention"],
        "key": ["purchase", "retention"],
        "fmt": ["png", "svg"],
        "filename": ["owner.css", "reuse.js"],
        # Real ids, so hostile query and form values reach the code behind a found row.
        "response_id": [str(unhappy.id), *ids(Response.id)],
        "testimonial_id": ids(Testimonial.id),
        "stage_id": ids(Stage.id)[:3],
        "touchpoint_id": ids(Touchpoint.id)[:3],
        "user_id": [str(user.id)],
        "key_id": ids(ApiKey.id),
        "message_id": ids(OutboxMessage.id)[:3],
    }
    return World(
        client,
        auth,
        user.email,
        issued_key.secret,
        csrf_token_from(client.get("/settings")),
        known,
    )


_ARGUMENT = re.compile(r"<(?:[^:>]+:)?([^>]+)>")


def path_values(rule: Rule, world: World) -> st.SearchStrategy[str]:
    """A path for `rule` with a hostile or real value for each argument, percent-encoded."""
    parts: list[st.SearchStrategy[str]] = []
    for name, converter in rule._converters.items():
        if isinstance(converter, IntegerConverter):
            # Real ids half the time (any small one for an id the fixture does not know).
            real = st.sampled_from(world.known.get(name) or ["1", "2", "3"])
            value = st.one_of(real, real, st.sampled_from(HOSTILE_INTS), st.integers().map(str))
        elif isinstance(converter, AnyConverter):
            value = st.one_of(st.sampled_from(sorted(converter.items)), hostile_value)
        else:
            real_values = world.known.get(name, [])
            value = st.one_of(
                *([st.sampled_from(real_values)] if real_values else []), hostile_value
            )
        # Mostly encoded the way a browser would; sometimes with "/" left as it is,
        # so "../" reaches the router (a path converter takes it).
        safe = st.sampled_from(("", "", "/" if isinstance(converter, PathConverter) else "", "/%"))
        parts.append(st.tuples(value, safe).map(lambda pair: quote(pair[0], safe=pair[1])))

    def build(values: list[str]) -> str:
        iterator = iter(values)
        return _ARGUMENT.sub(lambda _match: next(iterator), rule.rule)

    return st.tuples(*parts).map(lambda values: build(list(values)))


def call(world: World, method: str, path: str, query: str, body: Any) -> int:
    url = f"{path}?{query}" if query else path
    if path.startswith("/api/"):
        headers = {"Authorization": f"Bearer {world.api_key}"}
        if method in ("POST", "PATCH"):
            return world.client.open(url, method=method, headers=headers, json=body).status_code
        return world.client.open(url, method=method, headers=headers).status_code
    if method == "POST":
        data = {"csrf_token": world.csrf_token, **body}
        return world.client.post(url, data=data).status_code
    return world.client.open(url, method=method).status_code


def walk(rule: Rule, method: str, world: World) -> list[str]:
    """Drive one rule with one method; returns the requests that answered 5xx."""
    failures: list[str] = []
    if method in ("POST", "PATCH") and rule.rule.startswith("/api/"):
        bodies: st.SearchStrategy[Any] = json_bodies
    elif method == "POST":
        names = form_field_names()
        # Every field at once (each form finds its own, all hostile), or a few.
        bodies = st.one_of(
            st.fixed_dictionaries({name: hostile_value for name in names}),
            st.dictionaries(st.sampled_from(names), hostile_value, max_size=4),
        )
    else:
        bodies = st.none()

    @given(path=path_values(rule, world), query=query_strings, body=bodies)
    @settings(
        max_examples=EXAMPLES_PER_METHOD,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def drive(path: str, query: str, body: Any) -> None:
        status = call(world, method, path, query, body)
        if status >= 500:
            failures.append(f"{method} {path}?{query} {body!r} -> {status}")

    drive()
    return failures


# Values that crossed a boundary somewhere once: sent in every query parameter
# and form field at once, with real path values, to every rule.
EDGE_VALUES = (
    "2147483648",
    "99999999999999999999",
    "-1",
    "\x00",
    "x" * 5000,
    "9999-12-31T23:59:59-14:00",
    "<b>",
    "",
)


def sweep(rule: Rule, method: str, world: World) -> list[str]:
    """Each edge value in every parameter and field of one rule with real path values."""
    path = _ARGUMENT.sub(
        lambda match: quote((world.known.get(match.group(1)) or ["1"])[0], safe=""), rule.rule
    )
    failures = []
    for value in EDGE_VALUES:
        # A NUL in the query is refused before any view; in a form it goes deeper.
        query = "" if "\x00" in value else urlencode(dict.fromkeys(KNOWN_PARAMETERS, value))
        body: Any = dict.fromkeys(form_field_names(), value)
        if rule.rule.startswith("/api/"):
            body = {**dict.fromkeys(API_FIELDS, value), "contact": {"email": value}}
        status = call(world, method, path, query, body)
        if status >= 500:
            failures.append(f"{method} {path}?{query[:200]} {value[:40]!r} -> {status}")
    return failures


def test_no_route_answers_a_hostile_request_with_a_5xx(app, world):
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a crash is a 500 answer, as in production
    failures: list[str] = []
    walked = 0
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if (method, rule.rule) in SKIPPED:
                continue
            world.login()
            failures += sweep(rule, method, world)
            failures += walk(rule, method, world)
            walked += 1
    assert walked >= 80
    assert not failures, "\n".join(failures[:30])
