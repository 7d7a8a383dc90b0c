"""testimonial tags, consent links, uses, role, channels, material connection

Revision ID: c10610425ecf
Revises: 88461b180c99
Create Date: 2026-11-25 02:50:12.462979

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c10610425ecf'
down_revision = '88461b180c99'
branch_labels = None
depends_on = None


def upgrade():
    # The new tables' foreign keys need testimonial's (workspace_id, id) first.
    with op.batch_alter_table('testimonial', schema=None) as batch_op:
        batch_op.add_column(sa.Column('display_role', sa.String(length=80), nullable=True))
        # Every existing opt-in agreed to the website (the only place it could appear).
        batch_op.add_column(sa.Column('channels', sa.String(length=60), server_default='website', nullable=False))
        batch_op.add_column(sa.Column('reconfirmed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('material_connection', sa.String(length=20), nullable=True))
        batch_op.drop_index(batch_op.f('ix_testimonial_workspace_status'))
        batch_op.create_index('ix_testimonial_workspace_status', ['workspace_id', 'status', 'withdrawn_at', 'consented_at'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_testimonial_workspace_id_id'), ['workspace_id', 'id'])
        batch_op.create_check_constraint(
            'material_connection_known',
            "material_connection IN ('employee', 'gifted', 'incentive', 'relative')",
        )

    op.create_table('consent_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('testimonial_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id', 'testimonial_id'], ['testimonial.workspace_id', 'testimonial.id'], name=op.f('fk_consent_link_workspace_id_testimonial_id_testimonial'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], name=op.f('fk_consent_link_workspace_id_workspace'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_link')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_consent_link_token_hash'))
    )
    op.create_table('testimonial_tag',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('testimonial_id', sa.Integer(), nullable=False),
    sa.Column('tag', sa.String(length=40), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.CheckConstraint('length(tag) BETWEEN 1 AND 40', name=op.f('ck_testimonial_tag_tag_length')),
    sa.ForeignKeyConstraint(['workspace_id', 'testimonial_id'], ['testimonial.workspace_id', 'testimonial.id'], name=op.f('fk_testimonial_tag_workspace_id_testimonial_id_testimonial'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], name=op.f('fk_testimonial_tag_workspace_id_workspace'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_testimonial_tag')),
    sa.UniqueConstraint('testimonial_id', 'tag', name=op.f('uq_testimonial_tag_testimonial_id_tag'))
    )
    with op.batch_alter_table('testimonial_tag', schema=None) as batch_op:
        batch_op.create_index('ix_testimonial_tag_workspace_tag', ['workspace_id', 'tag', 'testimonial_id'], unique=False)

    op.create_table('testimonial_use',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('testimonial_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('first_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.CheckConstraint("channel IN ('wall', 'embed', 'feed', 'export', 'copy', 'card')", name=op.f('ck_testimonial_use_channel_known')),
    sa.ForeignKeyConstraint(['workspace_id', 'testimonial_id'], ['testimonial.workspace_id', 'testimonial.id'], name=op.f('fk_testimonial_use_workspace_id_testimonial_id_testimonial'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], name=op.f('fk_testimonial_use_workspace_id_workspace'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_testimonial_use')),
    sa.UniqueConstraint('testimonial_id', 'channel', name=op.f('uq_testimonial_use_testimonial_id_channel'))
    )
    with op.batch_alter_table('workspace', schema=None) as batch_op:
        batch_op.add_column(sa.Column('testimonial_max_age_days', sa.Integer(), server_default='730', nullable=False))
        batch_op.create_check_constraint('testimonial_max_age_positive', 'testimonial_max_age_days > 0')

    # ### end Alembic commands ###
    _move_default_consent_text(OLD_DEFAULT, NEW_DEFAULT, +1)


def _move_default_consent_text(from_text, to_text, step):
    """Workspaces still on the untouched default consent text get the one that fits the form.

    The form now asks where a quote may appear, so the old text ("website and
    marketing material") no longer describes what is agreed; the version goes
    up, and consents already given keep the text they were given under.
    """
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, name, consent_text FROM workspace")).all()
    for workspace_id, name, text in rows:
        if text == from_text.format(business=name):
            bind.execute(
                sa.text(
                    "UPDATE workspace SET consent_text = :text, "
                    "consent_version = consent_version + :step WHERE id = :id"
                ),
                {"text": to_text.format(business=name), "step": step, "id": workspace_id},
            )


# Frozen copies: the migration must not change when the app's default does.
OLD_DEFAULT = (
    "I agree that {business} may publish my comment and the name I give above as a "
    "testimonial on its website and marketing material. I can withdraw this at any time."
)
NEW_DEFAULT = (
    "I agree that {business} may publish my comment, with the name and role I give (or as "
    "\u201ca verified customer\u201d if I give no name), as a testimonial on its website, and also "
    "in any other places I choose. I can withdraw this at any time."
)


def downgrade():
    _move_default_consent_text(NEW_DEFAULT, OLD_DEFAULT, -1)
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table('workspace', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_workspace_testimonial_max_age_positive'), type_='check')
        batch_op.drop_column('testimonial_max_age_days')

    op.drop_table('testimonial_use')
    with op.batch_alter_table('testimonial_tag', schema=None) as batch_op:
        batch_op.drop_index('ix_testimonial_tag_workspace_tag')

    op.drop_table('testimonial_tag')
    op.drop_table('consent_link')
    with op.batch_alter_table('testimonial', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_testimonial_material_connection_known'), type_='check')
        batch_op.drop_constraint(batch_op.f('uq_testimonial_workspace_id_id'), type_='unique')
        batch_op.drop_index('ix_testimonial_workspace_status')
        batch_op.create_index(batch_op.f('ix_testimonial_workspace_status'), ['workspace_id', 'status'], unique=False)
        batch_op.drop_column('material_connection')
        batch_op.drop_column('reconfirmed_at')
        batch_op.drop_column('channels')
        batch_op.drop_column('display_role')

    # ### end Alembic commands ###
