"""The role matrix, checked over every route of `app.url_map`.

Nothing here lists routes: each rule of the running app is driven as an
anonymous visitor, a member and an owner, with every method it allows (POSTs
with a valid CSRF token and the fields of the form that posts there, filled
in), and held to the level its view declares. A route added later is covered
without touching this file, and a route that declares nothing stops the app.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import BuildError, Rule
from werkzeug.test import TestResponse

from feedback import access
from feedback.accounts import services as accounts
from feedback.accounts.models import Workspace
from feedback.delivery import webhooks
from feedback.delivery.models import OutboxMessage
from feedback.delivery.services import enqueue_email
from feedback.extensions import db
from feedback.journey.models import Stage
from feedback.testimonials.models import Testimonial
from tests.factories import NOW, PASSWORD, make_owner, make_response
from tests.pages import csrf_token_from

SIGNED_IN = (access.Access.MEMBER, access.Access.OWNER)
# A token of the shape the service issues (256 bits, URL-safe base64); nobody holds it.
TOKEN_SHAPED = "Q2hlY2tlZC1ieS10aGUtYWNjZXNzLXRlc3QtMDEyMzQ1Ng"


# -- the role matrix (the README's table) -------------------------------------------------

# Only owners touch settings, the journey, the team, API keys, webhooks,
# delivery retries, touchpoint imports and the CSV exports of personal data;
# members read everything else, work follow-ups and moderate testimonials.
OWNER_AREAS = ("/settings", "/export/", "/touchpoints/import")
# Who is in the team is no secret from the team (follow-ups are assigned to them).
MEMBERS_READ = {("GET", "/settings/team")}


def owner_only_by_matrix(rule: Rule, method: str) -> bool:
    return rule.rule.startswith(OWNER_AREAS) and (method, rule.rule) not in MEMBERS_READ


# -- the world the routes are driven in -------------------------------------------------


@dataclass
class World:
    workspace_slug: str
    owner_email: str
    member_email: str
    api_secret: str
    # A value for each path argument name the routes use; others get a fallback.
    path_values: dict[str, Any]


@pytest.fixture
def world(db_session) -> World:
    owner, workspace = make_owner(db_session, "Acme Plants")
    member, _ = accounts.add_member(db_session, workspace, "member@example.com", "member")
    accounts.set_password(db_session, member, PASSWORD, PASSWORD)
    colleague, _ = accounts.add_member(db_session, workspace, "colleague@example.com", "member")
    # A second workspace of the member's, for the routes that act on "one of yours"
    # (leaving it must not take the member out of the workspace the sweep works in).
    _, elsewhere = make_owner(db_session, "Elsewhere Shop")
    accounts.add_member(db_session, elsewhere, member.email, "member")
    db_session.commit()
    unhappy = make_response(
        db_session,
        workspace,
        rating=1,
        comment="Slow, rude and the plant arrived dead. Terrible.",
        opt_in=True,
        display_name="Ann",
    )
    issued_key = accounts.create_api_key(db_session, workspace, "CRM", NOW, created_by=owner)
    endpoint = webhooks.register_webhook(
        db_session, workspace.id, "https://hooks.example.com/feedback", ["response.created"], NOW
    )
    enqueue_email(db_session, workspace.id, to="zed@example.com", subject="S", text="T", now=NOW)
    db_session.flush()
    failed = db_session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.payload["to"].as_string() == "zed@example.com")
    ).one()
    failed.status, failed.last_error = "failed", "SMTP server unreachable"
    db_session.commit()
    stage = db_session.scalars(
        sa.select(Stage).where(Stage.workspace_id == workspace.id, Stage.key == "purchase")
    ).one()
    testimonial_id = db_session.scalar(
        sa.select(Testimonial.id).where(Testimonial.response_id == unhappy.id)
    )
    return World(
        workspace_slug=workspace.slug,
        owner_email=owner.email,
        member_email=member.email,
        api_secret=issued_key.secret,
        path_values={
            "response_id": unhappy.id,
            "testimonial_id": testimonial_id,
            "key_id": issued_key.api_key.id,
            "endpoint_id": endpoint.id,
            "message_id": failed.id,
            "stage_id": stage.id,
            "touchpoint_id": stage.touchpoints[0].id,
            "user_id": colleague.id,
            "workspace_id": elsewhere.id,
            "key": stage.key,
            "stage_key": stage.key,
            "slug": workspace.slug,
            "workspace_slug": workspace.slug,
            "token": TOKEN_SHAPED,
            "fmt": "svg",
            "filename": "owner.css",
        },
    )


# Member routes whose answer is rightly "you are logged out: to the login page".
ENDS_THE_SESSION = frozenset({"accounts.logout_everywhere"})


def path_of(app: Flask, rule: Rule, world: World) -> str:
    """The rule's address with plausible values; unknown arguments get an id, then a key."""
    adapter = app.url_map.bind("localhost")
    known = {k: v for k, v in world.path_values.items() if k in rule.arguments}
    unknown = [name for name in rule.arguments if name not in known]
    for fallback in (1, "purchase"):
        try:
            return adapter.build(rule.endpoint, {**known, **dict.fromkeys(unknown, fallback)})
        except BuildError:
            continue
    raise AssertionError(f"cannot build {rule.rule}")


def methods_of(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


def level_of(app: Flask, rule: Rule) -> access.Access | None:
    return access.level_of(app.view_functions[rule.endpoint])


def driven_rules(app: Flask) -> Iterator[Rule]:
    return iter(sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)))


# -- forms, filled in as a person would -------------------------------------------------


class FormReader(HTMLParser):
    """Every POST form of a page: its action and the fields it would send, filled in."""

    def __init__(self, page_path: str) -> None:
        super().__init__()
        self.page_path = page_path
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._fields: dict[str, str] | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "get").lower() == "post":
            action = urlsplit(a.get("action") or self.page_path).path
            self._fields = {}
            self.forms.append((action, self._fields))
        if self._fields is None or not a.get("name"):
            return
        name = a["name"]
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in a or name not in self._fields:
                    self._fields[name] = a.get("value") or "y"
            elif kind not in ("file", "submit", "button", "image", "reset"):
                self._fields[name] = a.get("value") or filled(kind, name, a)
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select:
            if "selected" in a or self._select not in self._fields:
                self._fields[self._select] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = name
            self._fields[name] = "Checked by the access test."

    def handle_data(self, data: str) -> None:
        if self._textarea and self._fields is not None and data.strip():
            self._fields[self._textarea] = data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._fields = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def filled(kind: str, name: str, attrs: dict[str, str]) -> str:
    """What someone would type into an empty field, so a POST is one that would succeed."""
    if kind == "email" or "email" in name:
        return "new.colleague@example.com"
    if kind == "url" or "url" in name:
        return "https://hooks.example.com/new"
    if kind == "password" or "password" in name or name == "confirm":
        return "another long password 42"
    if kind == "number":
        return attrs.get("min") or "1"
    if kind == "date":
        return "2026-06-01"
    return "Checked by the access test"


def harvest_forms(client: FlaskClient, app: Flask, world: World) -> dict[str, dict[str, str]]:
    """As the owner, open every page and keep the first form that posts to each address."""
    forms: dict[str, dict[str, str]] = {}
    for rule in driven_rules(app):
        if "GET" not in methods_of(rule) or level_of(app, rule) not in SIGNED_IN:
            continue
        path = path_of(app, rule, world)
        page = client.get(path)
        if page.status_code == 200 and page.mimetype == "text/html":
            reader = FormReader(path)
            reader.feed(page.get_data(as_text=True))
            for action, fields in reader.forms:
                forms.setdefault(action, fields)
    return forms


# -- actors ------------------------------------------------------------------------------


@dataclass
class Actor:
    """A browser: anonymous, or logged in as someone (and logged in again if a route logs out)."""

    client: FlaskClient
    email: str | None = None
    csrf: str = ""
    forms: dict[str, dict[str, str]] = field(default_factory=dict)

    def log_in(self) -> None:
        page = self.client.get("/login")
        if self.email is not None:
            self.client.post(
                "/login",
                data={
                    "email": self.email,
                    "password": PASSWORD,
                    "csrf_token": csrf_token_from(page),
                },
            )
            page = self.client.get("/account/password")
        self.csrf = csrf_token_from(page)

    def send(self, method: str, path: str) -> TestResponse:
        if method == "GET":
            return self.client.get(path)
        if path.startswith("/api/"):
            return self.client.open(path, method=method, json={})
        data = {**self.forms.get(path, {}), "csrf_token": self.csrf}
        return self.client.open(path, method=method, data=data)

    def request(self, method: str, path: str, level: access.Access | None) -> TestResponse:
        response = self.send(method, path)
        if self.email is not None and level in SIGNED_IN and sent_to_login(response):
            # An earlier route logged this browser out (POST /logout does): in again.
            self.log_in()
            response = self.send(method, path)
        return response


def sent_to_login(response: TestResponse) -> bool:
    return response.status_code in (301, 302, 303) and urlsplit(
        response.headers.get("Location", "")
    ).path.startswith("/login")


def rows_of_every_table() -> dict[str, list[str]]:
    """Everything the database holds, read on a connection of its own."""
    with db.engine.connect() as connection:
        return {
            table.name: sorted(repr(tuple(row)) for row in connection.execute(sa.select(table)))
            for table in db.metadata.sorted_tables
        }


# -- the checks --------------------------------------------------------------------------


def test_every_route_declares_who_may_open_it(app):
    undeclared = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static" and level_of(app, rule) is None
    ]
    assert undeclared == []


def test_signed_in_routes_are_declared_as_the_role_matrix_says(app):
    wrong = [
        f"{method} {rule.rule} is {level}"
        for rule in driven_rules(app)
        if (level := level_of(app, rule)) in SIGNED_IN
        for method in methods_of(rule)
        if (level is access.Access.OWNER) != owner_only_by_matrix(rule, method)
    ]
    assert wrong == []


def test_an_undeclared_route_stops_the_app_from_starting(app):
    app.add_url_rule("/forgotten", "forgotten", lambda: "who may see this?")
    with pytest.raises(access.UndeclaredAccess, match="/forgotten"):
        access.check_every_route_declares_access(app)


def test_an_api_key_route_outside_the_api_is_refused_at_start(app):
    app.add_url_rule("/keyed", "keyed", access.api_key(lambda: "unchecked"))
    with pytest.raises(access.UndeclaredAccess, match="/keyed"):
        access.check_every_route_declares_access(app)


def test_anonymous_visitors_are_sent_to_log_in_and_api_callers_without_a_key_get_401(app, world):
    anonymous = Actor(app.test_client())
    anonymous.log_in()
    wrong = []
    for rule in driven_rules(app):
        level = level_of(app, rule)
        for method in methods_of(rule):
            path = path_of(app, rule, world)
            response = anonymous.request(method, path, level)
            if level in SIGNED_IN:
                ok = sent_to_login(response)
            elif level is access.Access.API_KEY:
                ok = response.status_code == 401
            else:
                # Public and customer pages may still send someone on (`/` to the login).
                ok = response.status_code not in (401, 403)
            if not ok:
                wrong.append(f"{method} {path} ({level}): {response.status_code}")
    assert wrong == []


def test_members_get_403_on_every_owner_route_and_change_nothing_there(app, world):
    owner = Actor(app.test_client(), world.owner_email)
    owner.log_in()
    forms = harvest_forms(owner.client, app, world)
    member = Actor(app.test_client(), world.member_email, forms=forms)
    member.log_in()
    wrong = []
    owner_routes = 0
    for rule in driven_rules(app):
        level = level_of(app, rule)
        for method in methods_of(rule):
            path = path_of(app, rule, world)
            # What the matrix says, not only what the view declares.
            owners_only = level is access.Access.OWNER or owner_only_by_matrix(rule, method)
            before = rows_of_every_table() if owners_only else None
            response = member.request(method, path, level)
            status = response.status_code
            if owners_only:
                owner_routes += 1
                if status != 403:
                    wrong.append(f"{method} {path} (owner): {status}, not 403")
                changed = [t for t, rows in rows_of_every_table().items() if rows != before[t]]
                if changed:
                    wrong.append(f"{method} {path} (owner) changed {changed}")
            elif status == 403 or (
                level is access.Access.MEMBER
                and sent_to_login(response)
                and rule.endpoint not in ENDS_THE_SESSION
            ):
                wrong.append(f"{method} {path} ({level}): {status}")
    assert owner_routes > 20  # the sweep really met the owner's pages
    assert wrong == []


def test_owners_are_never_refused(app, world):
    owner = Actor(app.test_client(), world.owner_email)
    owner.log_in()
    owner.forms = harvest_forms(owner.client, app, world)
    keyed = app.test_client()
    wrong = []
    for rule in driven_rules(app):
        level = level_of(app, rule)
        for method in methods_of(rule):
            path = path_of(app, rule, world)
            if level is access.Access.API_KEY:
                response = keyed.open(
                    path,
                    method=method,
                    json={} if method != "GET" else None,
                    headers={"Authorization": f"Bearer {world.api_secret}"},
                )
                refused = response.status_code in (401, 403)
            else:
                response = owner.request(method, path, level)
                refused = response.status_code == 403 or (
                    level in SIGNED_IN
                    and sent_to_login(response)
                    and rule.endpoint not in ENDS_THE_SESSION
                )
            if refused:
                wrong.append(f"{method} {path} ({level}): {response.status_code}")
    assert wrong == []


def test_an_owner_can_do_what_a_member_cannot(app, world):
    """The same filled-in form that a member is refused works for an owner."""
    owner = Actor(app.test_client(), world.owner_email)
    owner.log_in()
    owner.forms = harvest_forms(owner.client, app, world)
    member = Actor(app.test_client(), world.member_email, forms=owner.forms)
    member.log_in()
    keys_before = rows_of_every_table()["api_key"]
    assert member.request("POST", "/settings/api-keys", access.Access.OWNER).status_code == 403
    assert rows_of_every_table()["api_key"] == keys_before
    created = owner.request("POST", "/settings/api-keys", access.Access.OWNER)
    assert created.status_code == 200 and "fbk_" in created.text
    assert len(rows_of_every_table()["api_key"]) == len(keys_before) + 1


def test_members_do_not_see_links_to_owner_pages(app, world):
    member = Actor(app.test_client(), world.member_email)
    member.log_in()
    page = member.client.get("/settings/team").text
    for path in ("/settings/api-keys", "/settings/webhooks", "/settings/journey", '"/settings"'):
        assert path not in page, path
    assert "/account/password" in page and "/settings/team" in page
    responses = member.client.get("/responses").text
    assert "/export/responses.csv" not in responses
    owner = Actor(app.test_client(), world.owner_email)
    owner.log_in()
    page = owner.client.get("/settings/team").text
    for path in ("/settings/api-keys", "/settings/webhooks", "/settings/journey"):
        assert path in page, path
    assert "/export/responses.csv" in owner.client.get("/responses").text


def test_someone_in_no_workspace_is_refused_member_pages(app, db_session, world):
    member = Actor(app.test_client(), world.member_email)
    member.log_in()
    workspace_id = db_session.scalar(
        sa.select(Workspace.id).where(Workspace.slug == world.workspace_slug)
    )
    owner_user = accounts.user_by_email(db_session, world.owner_email)
    member_user = accounts.user_by_email(db_session, world.member_email)
    accounts.remove_member(db_session, workspace_id, owner_user, member_user.id)
    elsewhere_id = world.path_values["workspace_id"]
    elsewhere_owner = next(
        u for u in accounts.members_of(db_session, elsewhere_id) if u.id != member_user.id
    )
    accounts.remove_member(db_session, elsewhere_id, elsewhere_owner, member_user.id)
    db_session.commit()
    assert member.client.get("/dashboard").status_code == 403
    assert member.client.get("/settings/team").status_code == 403
