"""The declarative base, shared column types and the workspace-scoped query helper."""

from __future__ import annotations

import datetime as dt
import functools
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TypeVar, TypeVarTuple, cast

from sqlalchemy import (
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    inspect,
    text,
)
from sqlalchemy.engine import CursorResult, Dialect, Result
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    make_transient_to_detached,
    mapped_column,
    registry,
    with_loader_criteria,
)
from sqlalchemy.sql.dml import Insert
from sqlalchemy.types import TypeDecorator

# Predictable constraint names, so Alembic migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on every database.

    PostgreSQL keeps the zone (`timestamptz`); SQLite has none, so values are
    stored as naive UTC and given back as aware UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware UTC one is required")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


intpk = Annotated[int, mapped_column(Integer, primary_key=True)]
timestamp = Annotated[dt.datetime, mapped_column(UTCDateTime())]
created_at = Annotated[dt.datetime, mapped_column(UTCDateTime(), default=utcnow)]
str40 = Annotated[str, mapped_column(String(40))]
str80 = Annotated[str, mapped_column(String(80))]
str120 = Annotated[str, mapped_column(String(120))]
str254 = Annotated[str, mapped_column(String(254))]


class Base(DeclarativeBase):
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={dt.datetime: UTCDateTime()},
    )

    if TYPE_CHECKING:
        # Every model maps one Table (none maps a join or a select), so its
        # insert() and columns are there; SQLAlchemy declares the wider FromClause.
        __table__: ClassVar[Table]


class WorkspaceOwned:
    """Mixin for every table that holds one workspace's data.

    The column is on the row itself (not only through a parent), so scoping a
    query never needs a join and the schema can be distributed by workspace.
    """

    workspace_id: Mapped[int] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=False
    )


def same_workspace_fk(
    column: str, parent: str, ondelete: str | None = "CASCADE"
) -> ForeignKeyConstraint:
    """`(workspace_id, column)` -> `parent(workspace_id, id)`.

    The database itself then refuses a row that points at another
    workspace's parent; the parent needs a unique `(workspace_id, id)`.
    """
    return ForeignKeyConstraint(
        ["workspace_id", column], [f"{parent}.workspace_id", f"{parent}.id"], ondelete=ondelete
    )


M = TypeVar("M", bound=Base)


def insert_complete_row(session: Session, obj: M) -> M:
    """INSERT a new object whose every column but the primary key is set, then attach it.

    For hot paths: the unit of work costs several times the INSERT itself, so
    the row goes in with one cached Core statement and the object joins the
    session as the persistent row it now is (no further SQL).
    """
    table = obj.__table__
    statement, columns = _insert_for(table)
    state = inspect(obj).dict
    missing = [key for key in columns if key not in state]
    if missing:
        # Column defaults are not applied here; an unset column would be NULL.
        raise ValueError(f"{type(obj).__name__} has unset columns: {', '.join(missing)}")
    values = {key: state[key] for key in columns}
    result = session.connection().execute(statement, values)
    # Set for every single-row INSERT (only executemany leaves it None).
    assert result.inserted_primary_key is not None
    setattr(obj, table.primary_key.columns[0].key, result.inserted_primary_key[0])
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


@functools.cache
def _insert_for(table: Table) -> tuple[Insert, tuple[str, ...]]:
    return table.insert(), tuple(c.key for c in table.columns if not c.primary_key)


Ts = TypeVarTuple("Ts")


def workspace_scoped(stmt: Select[*Ts], workspace_id: int) -> Select[*Ts]:
    """Restrict every workspace-owned entity in `stmt` to one workspace.

    The criterion applies wherever such an entity appears in the statement
    (the main FROM, joins, eager loads), so no view has to remember a filter.
    """
    return stmt.options(
        with_loader_criteria(
            WorkspaceOwned,
            lambda cls: cls.workspace_id == workspace_id,
            include_aliases=True,
        )
    )


def rowcount(result: Result[*tuple[Any, ...]]) -> int:
    """How many rows the UPDATE or DELETE that gave `result` matched.

    Executing one gives a CursorResult, which has the count; `Session.execute` is
    typed to return the plain Result it is for a SELECT.
    """
    return cast(CursorResult[*tuple[Any, ...]], result).rowcount


__all__ = [
    "Base",
    "UTCDateTime",
    "WorkspaceOwned",
    "created_at",
    "intpk",
    "timestamp",
    "utcnow",
    "workspace_scoped",
]


def lock_for_writing(session: Session) -> None:
    """On SQLite, take the database's write lock now, waiting for it if need be.

    A SQLite transaction that reads and then writes fails at once ("database is
    locked", no waiting) when another connection wrote in between; taking the
    lock before reading makes it wait its turn instead. PostgreSQL needs
    nothing: its row locks and unique constraints settle races there.
    """
    if session.get_bind().dialect.name == "sqlite":
        # Any write statement takes the lock, even one that changes no row.
        session.execute(text("UPDATE workspace SET id = id WHERE 0"))


class Paging:
    """Page arithmetic for a result page with `number` (from 1), `total` and `per_page`."""

    number: int
    total: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages
