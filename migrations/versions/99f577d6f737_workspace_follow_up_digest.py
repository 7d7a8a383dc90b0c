"""workspace follow-up digest

Revision ID: 99f577d6f737
Revises: e80e00f4f6a0
Create Date: 2026-11-25 00:41:49.273126

"""
import datetime as dt

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '99f577d6f737'
down_revision = 'e80e00f4f6a0'
branch_labels = None
depends_on = None

workspace = sa.table(
    "workspace", sa.column("follow_up_digest_at", sa.DateTime(timezone=True))
)


def upgrade():
    with op.batch_alter_table('workspace', schema=None) as batch_op:
        batch_op.add_column(sa.Column('follow_up_digest_at', sa.DateTime(timezone=True), nullable=True))
    # Existing workspaces start digesting from now: their backlog of open
    # follow-ups is on the queue page, not news for an email. Stored the way
    # the app stores it (naive UTC on SQLite), so comparisons stay exact.
    now = dt.datetime.now(dt.UTC)
    if op.get_bind().dialect.name == "sqlite":
        now = now.replace(tzinfo=None)
    op.execute(workspace.update().values(follow_up_digest_at=now))


def downgrade():
    with op.batch_alter_table('workspace', schema=None) as batch_op:
        batch_op.drop_column('follow_up_digest_at')
