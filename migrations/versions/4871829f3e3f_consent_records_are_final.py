"""consent records are final

Revision ID: 4871829f3e3f
Revises: c10610425ecf
Create Date: 2026-11-25 03:33:02.826484

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '4871829f3e3f'
down_revision = 'c10610425ecf'
branch_labels = None
depends_on = None


# What the customer agreed to, and to what answer: written once at opt-in.
# Moderation (status, excerpt, tags, material connection), withdrawal and
# re-confirmation live in other columns and stay updatable.
FINAL_COLUMNS = (
    "response_id",
    "display_name",
    "show_name",
    "display_role",
    "channels",
    "consent_text",
    "consent_version",
    "consented_at",
)
MESSAGE = "a testimonial consent record is never edited after the fact"


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        changed = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in FINAL_COLUMNS)
        op.execute(
            f"""
            CREATE FUNCTION testimonial_consent_is_final() RETURNS trigger AS $$
            BEGIN
                IF {changed} THEN
                    RAISE EXCEPTION '{MESSAGE} (testimonial %)', OLD.id
                        USING ERRCODE = 'integrity_constraint_violation';
                END IF;
                RETURN NEW;
            END
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER testimonial_consent_final BEFORE UPDATE ON testimonial "
            "FOR EACH ROW EXECUTE FUNCTION testimonial_consent_is_final()"
        )
    else:
        changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in FINAL_COLUMNS)
        op.execute(
            f"CREATE TRIGGER testimonial_consent_final BEFORE UPDATE OF {', '.join(FINAL_COLUMNS)} "
            f"ON testimonial FOR EACH ROW WHEN {changed} "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
        )


def downgrade():
    op.execute("DROP TRIGGER IF EXISTS testimonial_consent_final" + (
        " ON testimonial" if op.get_bind().dialect.name == "postgresql" else ""
    ))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS testimonial_consent_is_final()")
