"""worker heartbeat

A row per running worker process (host:pid), rewritten every few seconds,
so the delivery page can say when no worker is sending. A new table only:
the previous release, still running, never touches it.

Revision ID: 6bf220ce599e
Revises: c6e352f50f13
Create Date: 2026-12-07 20:10:24.178703

"""

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "6bf220ce599e"
down_revision = "c6e352f50f13"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "worker_heartbeat",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("messages_sent", sa.Integer(), nullable=False),
        sa.Column("messages_failed", sa.Integer(), nullable=False),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "messages_failed >= 0", name=op.f("ck_worker_heartbeat_messages_failed_not_negative")
        ),
        sa.CheckConstraint(
            "messages_sent >= 0", name=op.f("ck_worker_heartbeat_messages_sent_not_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker_heartbeat")),
        sa.UniqueConstraint("name", name=op.f("uq_worker_heartbeat_name")),
    )
    op.create_index(
        "ix_worker_heartbeat_last_seen_at", "worker_heartbeat", ["last_seen_at"], unique=False
    )


def downgrade():
    op.drop_index("ix_worker_heartbeat_last_seen_at", table_name="worker_heartbeat")
    op.drop_table("worker_heartbeat")
