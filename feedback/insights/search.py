"""Full-text search of responses: their comments and their customers' names.

Each database's own engine does the work. SQLite: the contentless FTS5
table `response_search` (tokenizer `porter unicode61 remove_diacritics 2`),
rowid the response's id, so no comment is stored twice. PostgreSQL: the
`tsvector` column `response.search_vector` (text search configuration
`feedback_search`: English stemming, no stop words, like SQLite's porter)
with a GIN index. Triggers keep both in step with
every write, whatever writes it (the submit, the bulk demo loader, imports, an
erasure, a contact's new name): see the migration that creates them.

What a user types is never handed to either engine as query syntax. It is
read here as words and "quoted phrases" (every one must match; words match
their forms: "refunds" finds "refund"), reduced to letters and digits, and
written out again as quoted phrases, which both engines read the same way
(FTS5 MATCH and `websearch_to_tsquery`). So `"`, `*`, `NEAR(`, `-`, `OR`
or `AND` are plain text and can never be a syntax error. A search with no
letters or digits in it (only punctuation) matches nothing.

Neither index nor column is in the models: on SQLite they are a virtual table
and its shadow tables, on PostgreSQL a column SQLite lacks. `include_name`
and `include_object` keep Alembic's comparison from reporting them.
"""

from __future__ import annotations

import re
from typing import Any, TypeVarTuple

from sqlalchemy import Select, Table, false, func, literal_column, select, table, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler

from feedback.extensions import db
from feedback.surveys.models import Response

Ts = TypeVarTuple("Ts")

# At most this many words and phrases are used (the form allows 100 characters).
MAX_TERMS = 16
SQLITE_TABLE = "response_search"
SQLITE_SHADOW_SUFFIXES = ("_data", "_idx", "_docsize", "_config", "_content")
POSTGRES_CONFIG = "feedback_search"
POSTGRES_COLUMN = "search_vector"
POSTGRES_INDEX = "ix_response_search_vector"

_PHRASE_OR_WORD = re.compile(r'"([^"]*)"?|(\S+)')
# Letters and digits in any script; everything else separates words, as both tokenizers do.
_WORD = re.compile(r"[^\W_]+")


def search_terms(text: str) -> list[str]:
    """The words and phrases of a search, each as its words joined by one space.

    `refund "arrived late"` -> ["refund", "arrived late"]. An unclosed quote
    runs to the end; pieces without a letter or digit are dropped.
    """
    terms: list[str] = []
    for match in _PHRASE_OR_WORD.finditer(text):
        phrase, word = match.groups()
        words = _WORD.findall(phrase if phrase is not None else word)
        if words:
            terms.append(" ".join(words))
        if len(terms) == MAX_TERMS:
            break
    return terms


def engine_query(terms: list[str]) -> str:
    """The terms as both engines' query text: each one a quoted phrase, all of them required."""
    # Terms hold only letters, digits and spaces, so no quote inside needs escaping.
    return " ".join(f'"{term}"' for term in terms)


NOT_INDEXED = "NOT INDEXED"
# SQLite, a list read in time order: up to this many matches (in every workspace)
# are looked up one by one and sorted; beyond it the list walks its newest-first
# index and keeps the rows that match. Measured at 1,000,000 responses: ~3.5 us
# per match looked up and sorted, ~0.3 us per match for the walk's set of
# matches plus the walk itself.
FEW_MATCHES = 10_000
# SQLite, matches read in any order (a capped set of keys): up to this many are
# looked up one by one (~0.7 us each: no sort) rather than walking the index of
# the other filters, which may read most of the workspace to find none.
MANY_MATCHES = 50_000


def narrow_to_text(
    stmt: Select[*Ts],
    text: str,
    session: Session | None = None,
    *,
    in_time_order: bool = True,
    alone: bool = False,
) -> Select[*Ts]:
    """`stmt` (a select from Response) kept to the responses matching the search `text`.

    Nothing matches a search without a letter or a digit. On SQLite the plan
    depends on how many responses match, which only the index knows: a capped
    count of index entries decides. Few: the matches drive (`response NOT
    INDEXED`, so SQLite looks each one up by id, and sorts them if read in
    time order, rather than walking the workspace's rows and testing each:
    that walk reads every row the other filters leave when none matches).
    Many: the list's index is walked (`+response.id`, so the id can't be used
    to look rows up), newest first when `in_time_order`, and stops after a
    page of matches. "Few" is FEW_MATCHES in time order, where every match is
    sorted; MANY_MATCHES otherwise, and any number when the search is `alone`
    (no other filter): the reader's LIMIT then stops the lookups, while a walk
    may read a long run without a match first (a word's matches often sit in
    a few stages). Left to itself SQLite walks for every search (it takes a
    workspace for ten rows when it has no statistics), and a rare word or
    none took a quarter of a second at 1,000,000 responses. `session`
    defaults to the app's (the statement builders take none); the count runs
    on it.
    """
    terms = search_terms(text)
    if not terms:
        return stmt.where(false())
    query = engine_query(terms)
    session = session if session is not None else db.session
    if session.get_bind().dialect.name != "sqlite":
        return stmt.where(
            literal_column(f"response.{POSTGRES_COLUMN}").bool_op("@@")(
                func.websearch_to_tsquery(literal_column(f"'{POSTGRES_CONFIG}'::regconfig"), query)
            )
        )
    search = table(SQLITE_TABLE)
    matching: Select[Any] = (
        select(literal_column("rowid"))
        .select_from(search)
        .where(literal_column(SQLITE_TABLE).bool_op("MATCH")(query))
    )
    few = FEW_MATCHES if in_time_order else MANY_MATCHES
    matches = session.scalar(select(func.count()).select_from(matching.limit(few + 1).subquery()))
    if not matches:
        return stmt.where(false())
    if matches <= few or (alone and not in_time_order):
        return stmt.where(Response.id.in_(matching)).with_hint(Response, NOT_INDEXED, "sqlite")
    return stmt.where(literal_column("+response.id").in_(matching))


def compact_index(session: Session) -> bool:
    """Rewrite the SQLite search index in one piece, so erased words leave its pages.

    Taking a row out of an FTS5 index writes a deletion marker; the words
    themselves stay in the older segment, unreadable through a search but
    present in `response_search_data`, until segments are merged. `optimize`
    merges them all. Returns False on PostgreSQL, where there is nothing to do
    here: an old row version, comment and tsvector alike, is gone at VACUUM.
    """
    if session.get_bind().dialect.name != "sqlite":
        return False
    session.execute(text(f"INSERT INTO {SQLITE_TABLE} ({SQLITE_TABLE}) VALUES ('optimize')"))
    return True


@compiles(Table, "sqlite")
def _sqlite_table_with_hint(element: Table, compiler: SQLCompiler, **kw: Any) -> str:
    """`Select.with_hint` for SQLite tables (SQLAlchemy writes table hints for other dialects
    only): "response NOT INDEXED"."""
    sql: str = compiler.visit_table(element, **kw)
    hints = kw.get("fromhints")
    if hints and element in hints:
        sql += " " + hints[element]
    return sql


def _is_search_object(name: str | None) -> bool:
    if name is None:
        return False
    if name in (SQLITE_TABLE, POSTGRES_COLUMN, POSTGRES_INDEX):
        return True
    return name.startswith(SQLITE_TABLE) and name.endswith(SQLITE_SHADOW_SUFFIXES)


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """For Alembic: leave the SQLite search tables out of the comparison with the models."""
    return not (type_ == "table" and _is_search_object(name))


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """For Alembic: leave the PostgreSQL search column and its index out of the comparison."""
    return not (reflected and compare_to is None and _is_search_object(name))
