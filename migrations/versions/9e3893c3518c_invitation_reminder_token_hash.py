"""invitation reminder token hash

The reminder email carries a link of its own instead of repeating the first
(whose raw token the outbox no longer keeps once it was sent). Its SHA-256
goes here, globally unique like `token_hash`; NULL until a reminder is queued.

Revision ID: 9e3893c3518c
Revises: 04f7bff83d2a
Create Date: 2026-12-07 19:26:25.993867

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9e3893c3518c'
down_revision = '04f7bff83d2a'
branch_labels = None
depends_on = None


# Plain operations, no batch mode: other tables point at `invitation`, and on
# SQLite a batch would drop and recreate it. A nullable column and an index
# need no rebuild on either database.
def upgrade():
    op.add_column('invitation', sa.Column('reminder_token_hash', sa.String(length=64), nullable=True))
    op.create_index(
        'ix_invitation_reminder_token_hash', 'invitation', ['reminder_token_hash'], unique=True
    )


def downgrade():
    op.drop_index('ix_invitation_reminder_token_hash', table_name='invitation')
    # SQLite (3.35+) drops an unindexed column in place, without a rebuild.
    op.drop_column('invitation', 'reminder_token_hash')
