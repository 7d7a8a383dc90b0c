"""user sessions and login throttle

Server-side sessions (logout ends a session wherever a copy of its cookie is) and
failed-login counts every process sees. Two new tables and nothing else: safe while
the previous release still runs (its sessions, which carried a password fingerprint
instead of a session token, simply ask their users to log in once more).

Revision ID: 04f7bff83d2a
Revises: 03f15cc0407f
Create Date: 2026-12-07 18:49:47.375739

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '04f7bff83d2a'
down_revision = '03f15cc0407f'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('login_throttle',
    sa.Column('email_hash', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('failures >= 0', name=op.f('ck_login_throttle_failures_not_negative')),
    sa.CheckConstraint('length(email_hash) = 64', name=op.f('ck_login_throttle_email_hash_is_sha256_hex')),
    sa.PrimaryKeyConstraint('email_hash', name=op.f('pk_login_throttle'))
    )
    # Plain CREATE INDEX, not batch mode: nothing here needs a table rebuilt.
    op.create_index(op.f('ix_login_throttle_window_start'), 'login_throttle', ['window_start'], unique=False)

    op.create_table('user_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('remembered', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user_agent', sa.String(length=200), nullable=True),
    sa.CheckConstraint('length(token_hash) = 64', name=op.f('ck_user_session_token_hash_is_sha256_hex')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_user_session_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_session')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_user_session_token_hash'))
    )
    op.create_index(op.f('ix_user_session_user_id'), 'user_session', ['user_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_user_session_user_id'), table_name='user_session')
    op.drop_table('user_session')
    op.drop_index(op.f('ix_login_throttle_window_start'), table_name='login_throttle')
    op.drop_table('login_throttle')
