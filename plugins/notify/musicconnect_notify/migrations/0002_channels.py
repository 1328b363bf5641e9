"""notify channels: the VAPID key, push subscriptions (+ which device got which delivery) and the
email suppression list

Revision ID: notify_0002
Revises: notify_0001
Create Date: 2026-11-28 21:10:00
"""
from alembic import op
import sqlalchemy as sa
import musicconnect.db


revision = 'notify_0002'
down_revision = 'notify_0001'
branch_labels = None
depends_on = None

UTC = musicconnect.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('notify_vapid_keys',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('private_pem', sa.Text(), nullable=False),
    sa.Column('public_key', sa.String(length=100), nullable=False),
    sa.Column('created_at', UTC, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notify_vapid_keys'))
    )
    op.create_table('notify_push_subscriptions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('endpoint', sa.Text(), nullable=False),
    sa.Column('endpoint_hash', sa.String(length=64), nullable=False),
    sa.Column('p256dh', sa.String(length=120), nullable=False),
    sa.Column('auth', sa.String(length=60), nullable=False),
    sa.Column('user_agent', sa.String(length=300), nullable=True),
    sa.Column('created_at', UTC, nullable=False),
    sa.Column('last_success_at', UTC, nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notify_push_subscriptions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notify_push_subscriptions')),
    sa.UniqueConstraint('endpoint_hash', name=op.f('uq_notify_push_subscriptions_endpoint_hash'))
    )
    with op.batch_alter_table('notify_push_subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notify_push_subscriptions_user_id'), ['user_id'], unique=False)
    op.create_table('notify_push_sent',
    sa.Column('delivery_id', sa.String(length=64), nullable=False),
    sa.Column('subscription_id', sa.Uuid(), nullable=False),
    sa.PrimaryKeyConstraint('delivery_id', 'subscription_id', name=op.f('pk_notify_push_sent'))
    )
    op.create_table('notify_email_suppressions',
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('created_at', UTC, nullable=False),
    sa.PrimaryKeyConstraint('email', name=op.f('pk_notify_email_suppressions'))
    )


def downgrade() -> None:
    op.drop_table('notify_email_suppressions')
    op.drop_table('notify_push_sent')
    with op.batch_alter_table('notify_push_subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notify_push_subscriptions_user_id'))
    op.drop_table('notify_push_subscriptions')
    op.drop_table('notify_vapid_keys')
