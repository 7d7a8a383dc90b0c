"""indexes for every owner list's filter and order; stored mismatch flag

The responses list, the follow-up queue and the testimonial inbox page by key
(newest first, no OFFSET) and count at most 10,001 rows; each filter and
order gets an index leading with workspace_id, so neither reads more than a
page's worth of index entries at any size. The rating/comment mismatch is an
expression over the stage's scale, which no index can hold, so it becomes a
stored flag, set when an answer is scored (and backfilled here).

Additive only: the previous release, still running, ignores the new column
(its server default keeps its inserts valid) and the new indexes.

Revision ID: 3a7c51d0b9e2
Revises: 3c1d2e5f7a90
Create Date: 2026-12-07 22:10:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "3a7c51d0b9e2"
down_revision = "3c1d2e5f7a90"
branch_labels = None
depends_on = None

# The mismatch rule as of this revision (feedback.insights.services.is_mismatch):
# scale -> (a high rating from, unhappy at most).
_SCALES = {"nps": (7.5, 6), "csat": (4.0, 2), "ces": (5.5, 3)}
_CLEARLY_NEGATIVE = -0.3
_CLEARLY_POSITIVE = 0.5


def _where(dialect: str, column: str) -> dict[str, sa.TextClause]:
    # Written exactly as the queries compare them (`col = 1` on SQLite, whose
    # planner matches a partial index by the same term; `col` on PostgreSQL).
    if dialect == "sqlite":
        return {"sqlite_where": sa.text(f"{column} = 1")}
    return {"postgresql_where": sa.text(column)}


def upgrade():
    dialect = op.get_bind().dialect.name
    op.add_column(
        "response",
        sa.Column("mismatch", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    response = sa.table(
        "response",
        sa.column("stage_id", sa.Integer),
        sa.column("rating", sa.Integer),
        sa.column("sentiment_label", sa.String),
        sa.column("sentiment_compound", sa.Float),
        sa.column("mismatch", sa.Boolean),
    )
    stage = sa.table("stage", sa.column("id", sa.Integer), sa.column("scale", sa.String))
    scale = sa.select(stage.c.scale).where(stage.c.id == response.c.stage_id).scalar_subquery()
    high = sa.or_(*((scale == key) & (response.c.rating >= h) for key, (h, _) in _SCALES.items()))
    low = sa.or_(*((scale == key) & (response.c.rating <= u) for key, (_, u) in _SCALES.items()))
    op.execute(
        response.update()
        .where(
            sa.or_(
                (response.c.sentiment_label == "negative")
                & (response.c.sentiment_compound <= _CLEARLY_NEGATIVE)
                & high,
                (response.c.sentiment_label == "positive")
                & (response.c.sentiment_compound >= _CLEARLY_POSITIVE)
                & low,
            )
        )
        .values(mismatch=sa.true())
    )
    op.create_index(
        "ix_response_workspace_touchpoint_submitted",
        "response",
        ["workspace_id", "touchpoint_id", "submitted_at"],
    )
    op.create_index(
        "ix_response_workspace_label_submitted",
        "response",
        ["workspace_id", "sentiment_label", "submitted_at"],
    )
    op.create_index(
        "ix_response_workspace_rating_submitted",
        "response",
        ["workspace_id", "rating", "submitted_at"],
    )
    op.create_index(
        "ix_response_workspace_opted_in_submitted",
        "response",
        ["workspace_id", "submitted_at"],
        **_where(dialect, "testimonial_opt_in"),
    )
    op.create_index(
        "ix_response_workspace_mismatch_submitted",
        "response",
        ["workspace_id", "submitted_at"],
        **_where(dialect, "mismatch"),
    )
    op.create_index(
        "ix_response_workspace_follow_up_due",
        "response",
        ["workspace_id", "follow_up_state", "follow_up_due_at"],
    )
    op.create_index(
        "ix_response_workspace_follow_up_resolved",
        "response",
        ["workspace_id", "follow_up_state", "resolved_at"],
    )
    # (workspace_id, consented_at, id) and the tags by testimonial come with the export's
    # indexes, the revision before this one.
    op.create_index(
        "ix_testimonial_workspace_status_consented",
        "testimonial",
        ["workspace_id", "status", "consented_at"],
        sqlite_where=sa.text("withdrawn_at IS NULL"),
        postgresql_where=sa.text("withdrawn_at IS NULL"),
    )
    op.create_index(
        "ix_testimonial_workspace_withdrawn_consented",
        "testimonial",
        ["workspace_id", "consented_at"],
        sqlite_where=sa.text("withdrawn_at IS NOT NULL"),
        postgresql_where=sa.text("withdrawn_at IS NOT NULL"),
    )


def downgrade():
    for name in (
        "ix_testimonial_workspace_withdrawn_consented",
        "ix_testimonial_workspace_status_consented",
    ):
        op.drop_index(name, table_name="testimonial")
    for name in (
        "ix_response_workspace_follow_up_resolved",
        "ix_response_workspace_follow_up_due",
        "ix_response_workspace_mismatch_submitted",
        "ix_response_workspace_opted_in_submitted",
        "ix_response_workspace_rating_submitted",
        "ix_response_workspace_label_submitted",
        "ix_response_workspace_touchpoint_submitted",
    ):
        op.drop_index(name, table_name="response")
    # SQLite 3.35+ drops a column in place; a batch copy of `response` would trip over the
    # search index's triggers, which name the table.
    op.drop_column("response", "mismatch")
