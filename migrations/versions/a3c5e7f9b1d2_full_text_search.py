"""full-text search of comments and customers' names

SQLite: a contentless FTS5 index (`response_search`, porter stemming,
diacritics removed) of each response's comment and its contact's name, so no
comment is stored twice (nor a view that a later batch migration of response
would trip over); filled from the existing rows. PostgreSQL: a text search
configuration (`feedback_search`: English stemming without stop words, as
SQLite's porter has none), a `tsvector` column on response with a GIN index,
filled from the existing rows.

Triggers keep either in step with every write path: a response inserted,
its comment or contact changed, deleted; a contact renamed (or deleted, on
SQLite). A contentless FTS5 index is told what to take out ('delete'
with the old values), so the triggers pass exactly what went in: the old
comment and the name as it was. A contact's index entries lose the name
before the contact goes, so whichever of a workspace's rows a cascade deletes
first, the values match.

On SQLite a later batch migration that recreates response or contact loses
its triggers: it must create them again (tests/test_upgrades_keep_data.py
compares the triggers before and after). The index keys are response ids,
which a batch copy keeps.

Also an index on response (workspace_id, contact_id): a renamed contact's
responses are found through it (and a contact's deletion checks it).

Revision ID: a3c5e7f9b1d2
Revises: 6bf220ce599e
Create Date: 2026-12-07 22:10:00.000000

"""

from alembic import op


# revision identifiers, used by Alembic.
revision = "a3c5e7f9b1d2"
down_revision = "6bf220ce599e"
branch_labels = None
depends_on = None

SQLITE_NAME_OF = "(SELECT name FROM contact WHERE contact.id = {ref}.contact_id)"

SQLITE_UPGRADE = [
    """
    CREATE VIRTUAL TABLE response_search USING fts5(
        comment, name, content='', tokenize='porter unicode61 remove_diacritics 2'
    )
    """,
    f"""
    CREATE TRIGGER response_search_insert AFTER INSERT ON response BEGIN
        INSERT INTO response_search (rowid, comment, name)
        VALUES (new.id, new.comment, {SQLITE_NAME_OF.format(ref="new")});
    END
    """,
    f"""
    CREATE TRIGGER response_search_update AFTER UPDATE OF comment, contact_id ON response BEGIN
        INSERT INTO response_search (response_search, rowid, comment, name)
        VALUES ('delete', old.id, old.comment, {SQLITE_NAME_OF.format(ref="old")});
        INSERT INTO response_search (rowid, comment, name)
        VALUES (new.id, new.comment, {SQLITE_NAME_OF.format(ref="new")});
    END
    """,
    f"""
    CREATE TRIGGER response_search_delete AFTER DELETE ON response BEGIN
        INSERT INTO response_search (response_search, rowid, comment, name)
        VALUES ('delete', old.id, old.comment, {SQLITE_NAME_OF.format(ref="old")});
    END
    """,
    """
    CREATE TRIGGER contact_search_rename AFTER UPDATE OF name ON contact
    WHEN old.name IS NOT new.name BEGIN
        INSERT INTO response_search (response_search, rowid, comment, name)
        SELECT 'delete', id, comment, old.name FROM response
        WHERE workspace_id = old.workspace_id AND contact_id = old.id;
        INSERT INTO response_search (rowid, comment, name)
        SELECT id, comment, new.name FROM response
        WHERE workspace_id = new.workspace_id AND contact_id = new.id;
    END
    """,
    """
    CREATE TRIGGER contact_search_delete BEFORE DELETE ON contact
    WHEN old.name IS NOT NULL BEGIN
        INSERT INTO response_search (response_search, rowid, comment, name)
        SELECT 'delete', id, comment, old.name FROM response
        WHERE workspace_id = old.workspace_id AND contact_id = old.id;
        INSERT INTO response_search (rowid, comment, name)
        SELECT id, comment, NULL FROM response
        WHERE workspace_id = old.workspace_id AND contact_id = old.id;
    END
    """,
    """
    INSERT INTO response_search (rowid, comment, name)
    SELECT response.id, response.comment, contact.name
    FROM response LEFT JOIN contact ON contact.id = response.contact_id
    """,
]

SQLITE_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS contact_search_delete",
    "DROP TRIGGER IF EXISTS contact_search_rename",
    "DROP TRIGGER IF EXISTS response_search_delete",
    "DROP TRIGGER IF EXISTS response_search_update",
    "DROP TRIGGER IF EXISTS response_search_insert",
    "DROP TABLE IF EXISTS response_search",
]

POSTGRES_UPGRADE = [
    # English stemming as the 'english' configuration has it, but no stop words:
    # SQLite's porter tokenizer keeps every word, so "not" or "on time" find the same.
    "CREATE TEXT SEARCH DICTIONARY feedback_search_stem (TEMPLATE = snowball, LANGUAGE = english)",
    "CREATE TEXT SEARCH CONFIGURATION feedback_search (COPY = pg_catalog.english)",
    """
    ALTER TEXT SEARCH CONFIGURATION feedback_search
    ALTER MAPPING REPLACE english_stem WITH feedback_search_stem
    """,
    # Punctuation becomes space first: PostgreSQL's parser would otherwise keep
    # "10/10", "a@b.com" or "1.5" whole, where SQLite's tokenizer (and the
    # search's own reading of what was typed) splits them into words.
    """
    CREATE FUNCTION response_search_document(comment text, name text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT to_tsvector(
            'feedback_search', regexp_replace(coalesce(comment, ''), '[[:punct:]]+', ' ', 'g')
        ) || to_tsvector(
            'feedback_search', regexp_replace(coalesce(name, ''), '[[:punct:]]+', ' ', 'g')
        )
    $$
    """,
    "ALTER TABLE response ADD COLUMN search_vector tsvector",
    """
    CREATE FUNCTION response_search_row() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.search_vector := response_search_document(
            NEW.comment,
            (SELECT name FROM contact WHERE contact.id = NEW.contact_id)
        );
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER response_search_row BEFORE INSERT OR UPDATE OF comment, contact_id
    ON response FOR EACH ROW EXECUTE FUNCTION response_search_row()
    """,
    """
    CREATE FUNCTION contact_search_rename() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE response SET search_vector = response_search_document(comment, NEW.name)
        WHERE workspace_id = NEW.workspace_id AND contact_id = NEW.id;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER contact_search_rename AFTER UPDATE OF name ON contact
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION contact_search_rename()
    """,
    """
    UPDATE response SET search_vector = response_search_document(response.comment, contact.name)
    FROM contact WHERE contact.id = response.contact_id
    """,
    """
    UPDATE response SET search_vector = response_search_document(comment, NULL)
    WHERE contact_id IS NULL
    """,
    "CREATE INDEX ix_response_search_vector ON response USING gin (search_vector)",
]

POSTGRES_DOWNGRADE = [
    "DROP INDEX IF EXISTS ix_response_search_vector",
    "DROP TRIGGER IF EXISTS contact_search_rename ON contact",
    "DROP FUNCTION IF EXISTS contact_search_rename()",
    "DROP TRIGGER IF EXISTS response_search_row ON response",
    "DROP FUNCTION IF EXISTS response_search_row()",
    "ALTER TABLE response DROP COLUMN IF EXISTS search_vector",
    "DROP FUNCTION IF EXISTS response_search_document(text, text)",
    "DROP TEXT SEARCH CONFIGURATION IF EXISTS feedback_search",
    "DROP TEXT SEARCH DICTIONARY IF EXISTS feedback_search_stem",
]


def upgrade():
    op.create_index(
        "ix_response_workspace_contact", "response", ["workspace_id", "contact_id"], unique=False
    )
    statements = SQLITE_UPGRADE if op.get_context().dialect.name == "sqlite" else POSTGRES_UPGRADE
    for statement in statements:
        op.execute(statement)


def downgrade():
    sqlite = op.get_context().dialect.name == "sqlite"
    for statement in SQLITE_DOWNGRADE if sqlite else POSTGRES_DOWNGRADE:
        op.execute(statement)
    op.drop_index("ix_response_workspace_contact", table_name="response")
