"""Keyset pagination, shared by the owner lists and the JSON API.

A page is named by the sort key of the row next to it, never by a number: the
database then seeks straight to it in the index that matches the order (no
OFFSET, which reads and throws away every row before the page), and a page
neither repeats nor skips rows when new ones arrive in between.

A cursor is the sort key of a row (its values, the row's id last), as URL-safe
base64 JSON. It comes back from the client, so it is checked like any input:
each value against the kind the list expects, before it reaches a query.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from feedback.inputs import DB_INT_MAX, MomentOutOfRange, moment_in_range

# Above this many rows a list says "more than 10,000" instead of counting on:
# an exact count reads every matching index entry, the cap reads at most this many.
COUNT_CAP = 10_000
# A cursor longer than this was not made here (the longest holds a tag, a time and an id).
CURSOR_MAX = 200

T = TypeVar("T")
Kind = Callable[[Any], Any]


class BadCursor(ValueError):
    """A cursor this app cannot have given out: edited, cut short, or forged."""


# -- what a cursor may hold ------------------------------------------------------


def time_key(value: Any) -> dt.datetime:
    """An aware moment within the range every part of the app can hold."""
    if not isinstance(value, str):
        raise BadCursor("not a time")
    try:
        parsed = dt.datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise BadCursor("a time without its zone")
        return moment_in_range(parsed)
    except (ValueError, MomentOutOfRange, OverflowError) as error:
        raise BadCursor("not a time") from error


def id_key(value: Any) -> int:
    """A row id: an integer the database's id column can hold."""
    if type(value) is not int or not 1 <= value <= DB_INT_MAX:
        raise BadCursor("not an id")
    return value


def score_key(value: Any) -> float:
    """A finite number (a ranking score)."""
    if type(value) not in (int, float) or not math.isfinite(value):
        raise BadCursor("not a score")
    return float(value)


def one_of(*names: str) -> Kind:
    """One of these names (a list's segment, e.g. open or resolved follow-ups)."""

    def check(value: Any) -> str:
        if value not in names:
            raise BadCursor("not a known part of the list")
        return str(value)

    return check


def encode_cursor(*values: dt.datetime | int | float | str) -> str:
    """The cursor of a row whose sort key is `values` (the id last)."""
    plain = [v.isoformat() if isinstance(v, dt.datetime) else v for v in values]
    raw = json.dumps(plain, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, kinds: Sequence[Kind]) -> tuple[Any, ...]:
    """The values a cursor names, each checked by its kind; BadCursor otherwise."""
    if len(cursor) > CURSOR_MAX:
        raise BadCursor("too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError) as error:
        raise BadCursor("not readable") from error
    if not isinstance(values, list) or len(values) != len(kinds):
        raise BadCursor("not the shape of this list's cursors")
    return tuple(kind(value) for kind, value in zip(kinds, values, strict=True))


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: just after (older side) or just before (newer side) a row."""

    values: tuple[Any, ...]
    backwards: bool = False


def cursor_from_args(args: Mapping[str, str], kinds: Sequence[Kind]) -> Cursor | None:
    """The `after=` or `before=` cursor of a list's query string; BadCursor if unusable."""
    after, before = args.get("after"), args.get("before")
    if after and before:
        raise BadCursor("both after and before")
    if after:
        return Cursor(decode_cursor(after, kinds))
    if before:
        return Cursor(decode_cursor(before, kinds), backwards=True)
    return None


def usable_cursor(args: Mapping[str, str], kinds: Sequence[Kind]) -> tuple[Cursor | None, bool]:
    """A list page's cursor, and whether one was given but unusable.

    For the HTML lists: an unusable cursor (edited, cut short) shows the
    first page with a note rather than an error page, since what is listed
    is still what was asked for.
    """
    try:
        return cursor_from_args(args, kinds), False
    except BadCursor:
        return None, True


# Query arguments that name a page rather than what is listed.
PAGING_ARGS = ("page", "after", "before")


# -- queries ---------------------------------------------------------------------


def beyond(columns: Sequence[Any], values: Sequence[Any], descending: bool) -> ColumnElement[bool]:
    """Rows that come after `values` in `ORDER BY columns` (all ascending or all descending).

    Written as `a <= x AND (a < x OR b < y)` rather than a row-value
    comparison: both databases then see a range on the leading key and seek
    to it in the index; the OR only sorts out the rows that tie on it.
    """
    column, value = columns[0], values[0]
    strictly = column < value if descending else column > value
    if len(columns) == 1:
        return strictly
    loosely = column <= value if descending else column >= value
    return and_(loosely, or_(strictly, beyond(columns[1:], values[1:], descending)))


def ordered(columns: Sequence[Any], descending: bool) -> list[Any]:
    return [c.desc() if descending else c.asc() for c in columns]


def capped_count(
    session: Session,
    stmt: Select[*tuple[Any, ...]],
    workspace: tuple[Any, int],
    cap: int = COUNT_CAP,
) -> int:
    """How many rows `stmt` selects, but at most `cap + 1`: cheap at any size.

    `stmt` must select only what is counted (no eager loads); its ordering is
    dropped. `workspace` is (the counted table's workspace_id column, the
    workspace): `workspace_scoped`'s criteria do not reach into a subquery,
    so the count states its own. A result above `cap` reads as "more than cap".
    """
    column, workspace_id = workspace
    limited = stmt.where(column == workspace_id).order_by(None).limit(cap + 1).subquery()
    return int(session.scalar(select(func.count()).select_from(limited)) or 0)


@dataclass(frozen=True)
class Segment(Generic[T]):
    """One run of a list in one order; most lists are one segment.

    `stmt` selects the run's rows (unordered); `columns` are its sort key,
    the unique id last; `key` reads those values from a fetched item.
    """

    name: str
    stmt: Select[*tuple[Any, ...]]
    columns: tuple[Any, ...]
    descending: bool
    key: Callable[[T], tuple[Any, ...]]


@dataclass(frozen=True)
class KeysetPage(Generic[T]):
    """One page of a list, with the cursors of its neighbours (None: no such page)."""

    items: list[T]
    newer: str | None  # `before=` of the previous page
    older: str | None  # `after=` of the next page
    total: int  # capped at COUNT_CAP + 1, see `more_than_cap`

    @property
    def more_than_cap(self) -> bool:
        return self.total > COUNT_CAP

    @property
    def cap(self) -> int:
        return COUNT_CAP


def segment_kinds(segments: Sequence[Segment[Any]], kinds: Sequence[Kind]) -> list[Kind]:
    """The kinds of a list's cursors: the segment's name first when there are several."""
    if len(segments) > 1:
        return [one_of(*(s.name for s in segments)), *kinds]
    return list(kinds)


def keyset_page(
    segments: Sequence[Segment[T]],
    cursor: Cursor | None,
    per_page: int,
    run: Callable[[Select[*tuple[Any, ...]]], Iterable[T]],
    total: int,
) -> KeysetPage[T]:
    """The page at `cursor` (the first page for None), walking the segments in order.

    `run` executes a statement and gives its items. Going back ("newer")
    reverses the comparison and the order, then flips the rows; a backward
    page that comes up short is the start of the list, so the first page is
    shown instead (full, without a "newer" link). A cursor pointing past the
    end also gives the first page.
    """
    names = [s.name for s in segments]
    multi = len(segments) > 1
    if cursor is None:
        start, values, backwards = 0, None, False
    else:
        start = names.index(cursor.values[0]) if multi else 0
        values = cursor.values[1:] if multi else cursor.values
        backwards = cursor.backwards

    def fetch(index: int, reverse: bool, wanted: int, bound: tuple[Any, ...] | None) -> list[T]:
        seg = segments[index]
        descending = seg.descending != reverse
        stmt = seg.stmt
        if bound is not None:
            stmt = stmt.where(beyond(seg.columns, bound, descending))
        stmt = stmt.order_by(*ordered(seg.columns, descending)).limit(wanted)
        return list(run(stmt))

    rows: list[tuple[int, T]] = []
    step = -1 if backwards else 1
    stop = -1 if backwards else len(segments)
    for index in range(start, stop, step):
        wanted = per_page + 1 - len(rows)
        bound = values if index == start else None
        rows += [(index, item) for item in fetch(index, backwards, wanted, bound)]
        if len(rows) > per_page:
            break
    if cursor is not None and (not rows or (backwards and len(rows) <= per_page)):
        return keyset_page(segments, None, per_page, run, total)

    def cursor_of(entry: tuple[int, T]) -> str:
        index, item = entry
        key = segments[index].key(item)
        return encode_cursor(names[index], *key) if multi else encode_cursor(*key)

    page, newer, older = _neighbours(rows, cursor, per_page, cursor_of)
    return KeysetPage([item for _, item in page], newer, older, total)


def keys_page(
    keys: Sequence[tuple[Any, ...]],
    cursor: Cursor | None,
    per_page: int,
    load: Callable[[list[Any]], Mapping[Any, T]],
) -> KeysetPage[T]:
    """`keyset_page` over the sort keys of a whole, small list, held in memory.

    For a list known to be short (its keys were all read, at most COUNT_CAP
    of them) whose rows are costly to walk in order: a search that matches
    few rows, which the database finds faster by the search than by walking
    the time order. `keys` are (sort values..., id), newest first, one
    segment in descending order; `load` gives the items with these ids, by
    id. The total is exact: the number of keys.
    """
    if cursor is None:
        rows = list(keys[: per_page + 1])
    elif cursor.backwards:
        rows = [k for k in reversed(keys) if k > cursor.values][: per_page + 1]
    else:
        rows = [k for k in keys if k < cursor.values][: per_page + 1]
    if cursor is not None and (not rows or (cursor.backwards and len(rows) <= per_page)):
        return keys_page(keys, None, per_page, load)
    page, newer, older = _neighbours(rows, cursor, per_page, lambda k: encode_cursor(*k))
    by_id = load([k[-1] for k in page])
    return KeysetPage([by_id[k[-1]] for k in page], newer, older, len(keys))


E = TypeVar("E")


def _neighbours(
    rows: list[E], cursor: Cursor | None, per_page: int, cursor_of: Callable[[E], str]
) -> tuple[list[E], str | None, str | None]:
    """The page in list order, with the cursors of the pages before and after it.

    `rows` are up to per_page + 1 rows read from the cursor on, in reading
    order (reversed when going back).
    """
    more = len(rows) > per_page
    page = rows[:per_page]
    if cursor is not None and cursor.backwards:
        page.reverse()
        return page, (cursor_of(page[0]) if more else None), cursor_of(page[-1])
    newer = cursor_of(page[0]) if cursor is not None and page else None
    return page, newer, (cursor_of(page[-1]) if more else None)
