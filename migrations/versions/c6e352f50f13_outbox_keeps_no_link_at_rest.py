"""outbox keeps no link at rest

Emails sent before this release kept their text, HTML and headers in the
outbox, with the raw survey, consent, password and unsubscribe links in them
(or, briefly, an encrypted copy under "sealed"). From now on a sent email
keeps only who, what and which Message-ID; this drops those parts from the
rows already sent, and from the ones that gave up. Emails still waiting (and
the ones that gave up) are told what they are, as new ones are: "links"
false for an email that carries no link (kept if it gives up, so a Retry
sends it as it was), and a "remake" reference for one a Retry can make again
with a fresh link. A delivered webhook call drops its body, as new ones do.

Data only; there is nothing to bring back on downgrade.

Revision ID: c6e352f50f13
Revises: 9e3893c3518c
Create Date: 2026-12-07 19:43:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c6e352f50f13'
down_revision = '9e3893c3518c'
branch_labels = None
depends_on = None

LINK_BEARING = ('text', 'html', 'headers', 'sealed')
outbox = sa.table(
    'outbox_message',
    sa.column('id', sa.Integer),
    sa.column('kind', sa.String),
    sa.column('status', sa.String),
    sa.column('dedupe_key', sa.String),
    sa.column('payload', sa.JSON),
)


def _drop_keys_sql(dialect, keys, where):
    """One UPDATE dropping `keys` from the JSON payload of the rows `where` selects."""
    if dialect == 'postgresql':
        minus = ' '.join(f"- '{key}'" for key in keys)
        present = ', '.join(f"'{key}'" for key in keys)
        return (
            f'UPDATE outbox_message SET payload = (payload::jsonb {minus})::json '
            f'WHERE {where} AND payload::jsonb ?| array[{present}]'
        )
    paths = ', '.join(f"'$.{key}'" for key in keys)
    present = ' OR '.join(f"json_type(payload, '$.{key}') IS NOT NULL" for key in keys)
    return (
        f'UPDATE outbox_message SET payload = json_remove(payload, {paths}) '
        f'WHERE {where} AND ({present})'
    )


def _described(payload, dedupe_key):
    """The payload with "links" and "remake" set as new emails have them."""
    meta = payload.get('meta') if isinstance(payload.get('meta'), dict) else {}
    prefix, _, rest = (dedupe_key or '').partition(':')
    remake = None
    if prefix in ('invitation', 'reminder') and rest.isdigit():
        remake = {'email': prefix, 'invitation_id': int(rest)}
    elif prefix == 'consent-confirmation' and rest.isdigit():
        remake = {'email': 'consent-confirmation', 'testimonial_id': int(rest)}
    elif meta.get('reconfirmation') and isinstance(meta.get('testimonial_id'), int):
        remake = {'email': 'consent-reconfirmation', 'testimonial_id': meta['testimonial_id']}
    no_links = prefix in ('opt-in-notice', 'follow-up-digest') or 'follow_up_assigned' in meta
    described = dict(payload, links=not no_links)
    if remake is not None:
        described['remake'] = remake
    return described


def upgrade():
    bind = op.get_bind()
    dialect = bind.dialect.name
    # Sent emails may be many: one statement each, in the database.
    bind.execute(sa.text(_drop_keys_sql(dialect, LINK_BEARING, "kind = 'email' AND status = 'sent'")))
    bind.execute(sa.text(_drop_keys_sql(dialect, ('body',), "kind = 'webhook' AND status = 'sent'")))
    # The rest (waiting, or given up) are few: described one by one.
    rows = bind.execute(
        sa.select(outbox.c.id, outbox.c.status, outbox.c.dedupe_key, outbox.c.payload).where(
            outbox.c.kind == 'email', outbox.c.status != 'sent'
        )
    ).all()
    for message_id, status, dedupe_key, payload in rows:
        if not isinstance(payload, dict) or 'links' in payload:
            continue
        described = _described(payload, dedupe_key)
        if status == 'failed' and described['links']:
            described = {k: v for k, v in described.items() if k not in LINK_BEARING}
        described.pop('scrubbed', None)
        bind.execute(
            sa.update(outbox).where(outbox.c.id == message_id).values(payload=described)
        )


def downgrade():
    pass
