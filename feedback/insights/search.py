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
from typing import Any

from sqlalchemy import Boolean, bindparam, false
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from feedback.surveys.models import Response

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


class _TextMatch(ColumnElement[bool]):
    """`Response` matches the quoted-phrase query; written out for the statement's dialect."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [("query", InternalTraversal.dp_clauseelement)]

    def __init__(self, query: str) -> None:
        self.query = bindparam("search_query", query, unique=True)


def text_matches(text: str) -> ColumnElement[bool]:
    """Responses whose comment or customer's name matches the search `text`.

    Nothing matches a search without a letter or a digit. Works on either
    database: the clause is written out for the one the statement runs on.
    """
    terms = search_terms(text)
    if not terms:
        return false()
    return _TextMatch(engine_query(terms))


@compiles(_TextMatch, "sqlite")
def _sqlite_match(element: _TextMatch, compiler: SQLCompiler, **kw: Any) -> str:
    table = compiler.preparer.format_table(Response.__table__)
    return (
        f"{table}.id IN (SELECT rowid FROM {SQLITE_TABLE}"
        f" WHERE {SQLITE_TABLE} MATCH {compiler.process(element.query, **kw)})"
    )


@compiles(_TextMatch, "postgresql")
def _postgres_match(element: _TextMatch, compiler: SQLCompiler, **kw: Any) -> str:
    table = compiler.preparer.format_table(Response.__table__)
    return (
        f"{table}.{POSTGRES_COLUMN} @@ websearch_to_tsquery("
        f"'{POSTGRES_CONFIG}', {compiler.process(element.query, **kw)})"
    )


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
