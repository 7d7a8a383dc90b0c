"""Bounds on what a request may carry, each checked in one place before it reaches a query.

Whatever a client sends, it gets a 4xx, never a 500: an id no column can
hold is a 404 (no row has it), a moment outside the window the databases and
Python's datetime arithmetic share is refused, a JSON body nested deeper than
any real request is a 400 before the parser recurses, and a NUL character
(which PostgreSQL cannot store or compare in text) never reaches the
database from the address or a form.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from typing import Any, TypeVar

from flask import Flask, Request, abort, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.routing import IntegerConverter, Map, PathConverter, UnicodeConverter

# Every id column is a 32-bit signed INTEGER (PostgreSQL refuses a larger
# number with "integer out of range"; SQLite's limit is 64 bits).
DB_INT_MAX = 2**31 - 1

# The moments a request may name (occurred_at, since, until, cursors): the
# dashboard's calendar window (insights.services.EARLIEST_DAY..LATEST_DAY),
# wide enough for any real event and far from datetime's year 1 and 9999,
# where converting a zone to UTC overflows.
EARLIEST_MOMENT = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST_MOMENT = dt.datetime(2101, 1, 1, tzinfo=dt.UTC)  # exclusive
MOMENT_RANGE_MESSAGE = "must be from 2000-01-01 to 2100-12-31 (UTC)"

# The API's deepest body is {"events": [{"contact": {...}}]}, four levels.
JSON_MAX_DEPTH = 32


class DatabaseIdConverter(IntegerConverter):
    """`<int:...>` matching only numbers an id column can hold; a larger one is a 404."""

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = None,
        signed: bool = False,
    ) -> None:
        super().__init__(map, fixed_digits, min, DB_INT_MAX if max is None else max, signed)


def db_int(value: str) -> int:
    """A query parameter as an id or count a column can hold; ValueError otherwise.

    Meant as `request.args.get(name, type=db_int)`, which then answers the
    default for anything else, as it does for text that is not a number.
    """
    number = int(value)
    if not -DB_INT_MAX <= number <= DB_INT_MAX:
        raise ValueError(f"{value!r} is out of range")
    return number


D = TypeVar("D")


def required(data: D | None) -> D:
    """A form field's value once its InputRequired validator passed.

    WTForms types `data` as optional (None: the field was not in the request at
    all); InputRequired refuses that, so after validation the value is there.
    """
    assert data is not None, "read before validation, or the field is not InputRequired"
    return data


class MomentOutOfRange(ValueError):
    """A well-formed moment outside EARLIEST_MOMENT..LATEST_MOMENT."""


def moment_in_range(moment: dt.datetime) -> dt.datetime:
    """The moment (aware) in UTC; MomentOutOfRange outside the window every part can hold."""
    try:
        utc = moment.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01T00:00+14:00 or 9999-12-31T23:59-14:00
        raise MomentOutOfRange(MOMENT_RANGE_MESSAGE) from None
    if not EARLIEST_MOMENT <= utc < LATEST_MOMENT:
        raise MomentOutOfRange(MOMENT_RANGE_MESSAGE)
    return utc


# A JSON string, escapes included: removed whole, so brackets inside it do not count.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_too_deep(text: str | bytes, limit: int = JSON_MAX_DEPTH) -> bool:
    """Whether the JSON text nests more than `limit` arrays and objects (malformed text too).

    Strings out, then only brackets left, all in C-speed string operations:
    about 4 ms for a 1,000-event bulk body (about 1 % of recording it).
    """
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
    # At most one level per bracket: the common small body needs no scan.
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    brackets = _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    return max(itertools.accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0) > limit


class JSONTooDeep(ValueError):
    """A JSON body nested deeper than JSON_MAX_DEPTH; a ValueError, so Flask answers 400."""


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, refusing deep nesting before the parser recurses (RecursionError, a 500)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        if json_too_deep(s):
            raise JSONTooDeep(f"JSON nested more than {JSON_MAX_DEPTH} levels deep")
        return super().loads(s, **kwargs)


class _NulAsReplacementCharacter:
    """A path segment with NUL in it gets U+FFFD there, as werkzeug does for undecodable bytes.

    No key, slug or token holds either, so the view's own "not found" answers
    (the customer pages' friendly 404s among them), while PostgreSQL, which
    cannot compare text with a NUL, never sees one.
    """

    def to_python(self, value: str) -> Any:
        return super().to_python(value).replace("\x00", "\ufffd")  # type: ignore[misc]


class TextConverter(_NulAsReplacementCharacter, UnicodeConverter):
    """`<name>` and `<string:name>`."""


class TextPathConverter(_NulAsReplacementCharacter, PathConverter):
    """`<path:name>`."""


def refuse_nul_in_query() -> None:
    """400 for a NUL character in the query string, before any view reads it.

    No link of this service carries one, nobody can type one into a search
    box, and PostgreSQL refuses it in any text comparison. (Form fields
    lose it instead: `NulFreeFormRequest`.)
    """
    if request.blueprint == "api":
        return  # the API refuses it after its key check, in its own envelope (422)
    if any("\x00" in key or "\x00" in value for key, value in request.args.items(multi=True)):
        abort(400, "The query string contains a NUL character.")


class NulFreeFormRequest(Request):
    """Flask's request, with NUL characters removed from submitted form fields.

    A browser cannot send one from a field a person types in, PostgreSQL can
    store or compare none, and free text has its control characters removed
    anyway (`feedback.text.clean_text`); removing NUL where the form is read
    covers every form, including the email and name fields that go straight
    into a query. Uploaded files are left as sent.
    """

    def _load_form_data(self) -> None:
        super()._load_form_data()
        form = self.__dict__.get("form")
        if form is not None and any(
            "\x00" in key or "\x00" in value for key, value in form.items(multi=True)
        ):
            self.__dict__["form"] = self.parameter_storage_class(
                [
                    (key.replace("\x00", ""), value.replace("\x00", ""))
                    for key, value in form.items(multi=True)
                ]
            )


def register(app: Flask) -> None:
    """Install the bounds; before any route is added (rules compile their converters then)."""
    converters = app.url_map.converters
    converters["int"] = DatabaseIdConverter
    converters["default"] = converters["string"] = TextConverter
    converters["path"] = TextPathConverter
    app.json = BoundedJSONProvider(app)
    app.request_class = NulFreeFormRequest
    app.before_request(refuse_nul_in_query)
