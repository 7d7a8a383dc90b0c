"""indexes for the testimonial export

The testimonial export walks a workspace's testimonials newest first
(consented_at, then id) and reads each one's tags: one index for each, both
leading with workspace_id. Indexes only: the previous release, still running,
is unaffected (they make its export fast too).

Revision ID: 3c1d2e5f7a90
Revises: a3c5e7f9b1d2
Create Date: 2026-12-07 22:10:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "3c1d2e5f7a90"
down_revision = "a3c5e7f9b1d2"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_testimonial_workspace_consented",
        "testimonial",
        ["workspace_id", "consented_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_testimonial_tag_workspace_testimonial",
        "testimonial_tag",
        ["workspace_id", "testimonial_id", "tag"],
        unique=False,
    )


def downgrade():
    op.drop_index("ix_testimonial_tag_workspace_testimonial", table_name="testimonial_tag")
    op.drop_index("ix_testimonial_workspace_consented", table_name="testimonial")
