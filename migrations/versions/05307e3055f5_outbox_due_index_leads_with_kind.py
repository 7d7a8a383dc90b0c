"""outbox due index leads with kind

Emails and webhook calls are claimed by separate worker lanes, each asking
for the due messages of its own kind: with `kind` first, a backlog of one
kind is never scanned to find the other.

Revision ID: 05307e3055f5
Revises: 4871829f3e3f
Create Date: 2026-12-07 19:06:36.071952

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '05307e3055f5'
down_revision = '4871829f3e3f'
branch_labels = None
depends_on = None


# Plain index operations (no batch mode): nothing here needs the table rebuilt.
def upgrade():
    op.create_index(
        'ix_outbox_message_kind_due',
        'outbox_message',
        ['kind', 'status', 'next_attempt_at'],
        unique=False,
    )
    op.drop_index('ix_outbox_message_due', table_name='outbox_message')


def downgrade():
    op.create_index(
        'ix_outbox_message_due', 'outbox_message', ['status', 'next_attempt_at'], unique=False
    )
    op.drop_index('ix_outbox_message_kind_due', table_name='outbox_message')
