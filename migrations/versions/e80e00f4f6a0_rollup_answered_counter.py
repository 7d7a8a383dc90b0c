"""rollup answered counter

Revision ID: e80e00f4f6a0
Revises: 7612023d3953
Create Date: 2026-11-25 00:40:14.855057

"""
import datetime as dt
from collections import Counter
from zoneinfo import ZoneInfo

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e80e00f4f6a0'
down_revision = '7612023d3953'
branch_labels = None
depends_on = None

response = sa.table(
    "response",
    sa.column("workspace_id", sa.Integer()),
    sa.column("stage_id", sa.Integer()),
    sa.column("touchpoint_id", sa.Integer()),
    sa.column("invitation_id", sa.Integer()),
    sa.column("submitted_at", sa.DateTime()),
)
workspace = sa.table("workspace", sa.column("id", sa.Integer()), sa.column("timezone", sa.String()))
stat = sa.table(
    "stage_daily_stat",
    sa.column("workspace_id", sa.Integer()),
    sa.column("stage_id", sa.Integer()),
    sa.column("touchpoint_id", sa.Integer()),
    sa.column("day", sa.Date()),
    sa.column("answered", sa.Integer()),
)


def upgrade():
    with op.batch_alter_table('stage_daily_stat', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('answered', sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
    # Count the existing personal-link responses on their workspace's local day.
    connection = op.get_bind()
    zones = {wid: ZoneInfo(tz) for wid, tz in connection.execute(sa.select(workspace))}
    counts: Counter = Counter()
    rows = connection.execute(
        sa.select(
            response.c.workspace_id,
            response.c.stage_id,
            response.c.touchpoint_id,
            response.c.submitted_at,
        ).where(response.c.invitation_id.is_not(None))
    )
    for workspace_id, stage_id, touchpoint_id, submitted_at in rows:
        moment = submitted_at if submitted_at.tzinfo else submitted_at.replace(tzinfo=dt.UTC)
        day = moment.astimezone(zones[workspace_id]).date()
        counts[(workspace_id, stage_id, touchpoint_id, day)] += 1
    if counts:
        connection.execute(
            stat.update()
            .where(
                stat.c.workspace_id == sa.bindparam("w"),
                stat.c.stage_id == sa.bindparam("s"),
                stat.c.touchpoint_id == sa.bindparam("t"),
                stat.c.day == sa.bindparam("d"),
            )
            .values(answered=sa.bindparam("n")),
            [{"w": w, "s": s, "t": t, "d": d, "n": n} for (w, s, t, d), n in counts.items()],
        )


def downgrade():
    with op.batch_alter_table('stage_daily_stat', schema=None) as batch_op:
        batch_op.drop_column('answered')
