"""one live membership per fan and artist (live_key), duplicate subscriptions

Revision ID: billing_0002
Revises: billing_0001
Create Date: 2026-12-03 10:00:00
"""
from alembic import op
import sqlalchemy as sa
import musicconnect.db


revision = 'billing_0002'
down_revision = 'billing_0001'
branch_labels = None
depends_on = None

LIVE = ('active', 'trialing', 'past_due')


def upgrade() -> None:
    op.add_column('billing_subscriptions', sa.Column('live_key', sa.String(length=80), nullable=True))
    op.add_column('billing_subscriptions', sa.Column('duplicate_of', sa.Uuid(), nullable=True))
    op.add_column('billing_subscriptions', sa.Column('duplicate_closed_at', musicconnect.db.UTCDateTime(timezone=True),
                                                     nullable=True))
    # the oldest live subscription of each (fan, artist) holds the membership; any other live one
    # was a duplicate (paid twice): marked, so the duplicate sweep cancels and refunds it
    subs = sa.table('billing_subscriptions', sa.column('id', sa.Uuid()), sa.column('user_id', sa.Uuid()),
                    sa.column('artist_id', sa.Uuid()), sa.column('status', sa.String()),
                    sa.column('created_at', musicconnect.db.UTCDateTime(timezone=True)),
                    sa.column('live_key', sa.String()), sa.column('duplicate_of', sa.Uuid()))
    conn = op.get_bind()
    holders: dict[str, object] = {}
    rows = conn.execute(sa.select(subs.c.id, subs.c.user_id, subs.c.artist_id)
                        .where(subs.c.status.in_(LIVE), subs.c.user_id.is_not(None), subs.c.artist_id.is_not(None))
                        .order_by(subs.c.created_at, subs.c.id)).all()
    for sub_id, user_id, artist_id in rows:
        key = f'{user_id.hex}:{artist_id.hex}'
        if key in holders:
            conn.execute(subs.update().where(subs.c.id == sub_id).values(duplicate_of=holders[key]))
        else:
            holders[key] = sub_id
            conn.execute(subs.update().where(subs.c.id == sub_id).values(live_key=key))
    op.create_index('uq_billing_subscriptions_live_key', 'billing_subscriptions', ['live_key'], unique=True)


def downgrade() -> None:
    op.drop_index('uq_billing_subscriptions_live_key', table_name='billing_subscriptions')
    with op.batch_alter_table('billing_subscriptions', schema=None) as batch_op:
        batch_op.drop_column('duplicate_closed_at')
        batch_op.drop_column('duplicate_of')
        batch_op.drop_column('live_key')
