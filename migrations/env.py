import logging
from contextlib import contextmanager
from logging.config import fileConfig

from alembic import context
from flask import current_app
from sqlalchemy import event

# this is the Alembic Config object, which provides
# access to the values within the .ini file in use.
config = context.config

# Interpret the config file for Python logging.
# This line sets up loggers basically.
# Not disabling the app's loggers: an upgrade run inside a process (the tests,
# the demo) would otherwise silence its JSON request log from then on.
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")


def get_engine():
    return current_app.extensions["migrate"].db.engine


def get_engine_url():
    return get_engine().url.render_as_string(hide_password=False).replace("%", "%%")


# add your model's MetaData object here
# for 'autogenerate' support
# from myapp import mymodel
# target_metadata = mymodel.Base.metadata
config.set_main_option("sqlalchemy.url", get_engine_url())
target_db = current_app.extensions["migrate"].db

# other values from the config, defined by the needs of env.py,
# can be acquired:
# my_important_option = config.get_main_option("my_important_option")
# ... etc.


def get_metadata():
    if hasattr(target_db, "metadatas"):
        return target_db.metadatas[None]
    return target_db.metadata


def render_item(type_, obj, autogen_context):
    """Write the project's UTCDateTime as the plain column type it stores."""
    from feedback.db import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_offline():
    """Run migrations in 'offline' mode.

    This configures the context with just a URL
    and not an Engine, though an Engine is acceptable
    here as well.  By skipping the Engine creation
    we don't even need a DBAPI to be available.

    Calls to context.execute() here emit the given string to the
    script output.

    """
    url = config.get_main_option("sqlalchemy.url")
    context.configure(url=url, target_metadata=get_metadata(), literal_binds=True)

    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run migrations in 'online' mode.

    In this scenario we need to create an Engine
    and associate a connection with the context.

    """

    # this callback is used to prevent an auto-migration from being generated
    # when there are no changes to the schema
    # reference: http://alembic.zzzcomputing.com/en/latest/cookbook.html
    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    conf_args = current_app.extensions["migrate"].configure_args
    conf_args.setdefault("render_item", render_item)
    # The full-text search index lives outside the models (see feedback/insights/search.py).
    from feedback.insights.search import include_name, include_object

    conf_args.setdefault("include_name", include_name)
    conf_args.setdefault("include_object", include_object)
    if conf_args.get("process_revision_directives") is None:
        conf_args["process_revision_directives"] = process_revision_directives

    connectable = get_engine()

    with connectable.connect() as connection:
        if connection.dialect.name == "sqlite":
            with sqlite_without_foreign_keys(connection):
                # One real transaction around every step, checked before it commits.
                context.configure(
                    connection=connection,
                    target_metadata=get_metadata(),
                    transactional_ddl=True,
                    **conf_args,
                )
                with context.begin_transaction():
                    context.run_migrations()
                    refuse_dangling_foreign_keys(connection)
            return
        context.configure(connection=connection, target_metadata=get_metadata(), **conf_args)

        with context.begin_transaction():
            context.run_migrations()


class DanglingForeignKeys(RuntimeError):
    """A migration left rows pointing at rows that don't exist; nothing was committed."""


@contextmanager
def sqlite_without_foreign_keys(connection):
    """Foreign keys off for the migration, as Alembic's batch documentation requires.

    A batch operation copies a table, drops the original and renames the copy.
    With `PRAGMA foreign_keys=ON` (set on every connection by the app) the drop
    cascades into every child table, so an upgrade past a batch change of
    `workspace` deleted every stage, response and membership. SQLite ignores
    this PRAGMA inside a transaction, so it goes to the driver connection before
    anything begins one.
    """
    driver_connection = connection.connection.driver_connection
    was_on = driver_connection.execute("PRAGMA foreign_keys").fetchone()[0]
    driver_connection.execute("PRAGMA foreign_keys=OFF")
    # pysqlite's own transaction handling sends BEGIN only before the first
    # INSERT/UPDATE/DELETE, so the DDL ahead of it would commit at once and a
    # refused upgrade could not be rolled back. SQLAlchemy's documented pysqlite
    # recipe: let the driver send nothing and send BEGIN ourselves. (Skipped
    # when the app's connect hook applies the recipe already.)
    own_begin = driver_connection.isolation_level is not None
    previous_level = driver_connection.isolation_level
    if own_begin:
        driver_connection.isolation_level = None
        event.listen(connection, "begin", _emit_begin)
    try:
        yield
    finally:
        if own_begin:
            event.remove(connection, "begin", _emit_begin)
            driver_connection.isolation_level = previous_level
        if was_on:
            driver_connection.execute("PRAGMA foreign_keys=ON")


def _emit_begin(connection):
    connection.exec_driver_sql("BEGIN")


def refuse_dangling_foreign_keys(connection):
    """Raise (so the migration's transaction rolls back) if any row's parent is missing.

    With foreign keys off nothing stops a migration from leaving orphans;
    `PRAGMA foreign_key_check` finds them before anything is committed.
    """
    problems = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if problems:
        tables = sorted({f"{row[0]} -> {row[2]}" for row in problems})
        raise DanglingForeignKeys(
            f"the upgrade would leave {len(problems)} row(s) pointing at missing rows "
            f"({', '.join(tables)}); nothing was changed"
        )


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
