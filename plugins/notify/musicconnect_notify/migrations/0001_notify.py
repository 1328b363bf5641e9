"""notify tables: deliveries (inbox rows too), preferences, artist messages and their daily quota

Revision ID: notify_0001
Revises:
Create Date: 2026-11-28 21:00:00
"""
from alembic import op
import sqlalchemy as sa
import musicconnect.db


revision = 'notify_0001'
down_revision = None
branch_labels = None
depends_on = None

UTC = musicconnect.db.UTCDateTime(timezone=True)
JSON = musicconnect.db.JSONType


def upgrade() -> None:
    op.create_table('notify_deliveries',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=100), nullable=False),
    sa.Column('object_key', sa.String(length=200), nullable=False),
    sa.Column('recipient_id', sa.Uuid(), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('artist_id', sa.Uuid(), nullable=True),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=True),
    sa.Column('data', JSON, nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('not_before', UTC, nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('created_at', UTC, nullable=False),
    sa.Column('sent_at', UTC, nullable=True),
    sa.Column('read_at', UTC, nullable=True),
    sa.ForeignKeyConstraint(['recipient_id'], ['users.id'], name=op.f('fk_notify_deliveries_recipient_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['artist_id'], ['artists.id'], name=op.f('fk_notify_deliveries_artist_id_artists'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notify_deliveries')),
    sa.UniqueConstraint('kind', 'object_key', 'recipient_id', 'channel', name=op.f('uq_notify_deliveries_kind'))
    )
    op.create_index('ix_notify_deliveries_inbox', 'notify_deliveries', ['recipient_id', 'channel', 'created_at'])
    op.create_index('ix_notify_deliveries_due', 'notify_deliveries', ['status', 'not_before'])
    op.create_table('notify_preferences',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('channels', JSON, nullable=False),
    sa.Column('muted', JSON, nullable=False),
    sa.Column('quiet_start', sa.String(length=5), nullable=True),
    sa.Column('quiet_end', sa.String(length=5), nullable=True),
    sa.Column('email_opt_out', sa.Boolean(), nullable=False),
    sa.Column('digest', sa.String(length=8), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('updated_at', UTC, nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notify_preferences_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_notify_preferences'))
    )
    op.create_table('notify_artist_messages',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('artist_id', sa.Uuid(), nullable=False),
    sa.Column('segment', sa.String(length=100), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', UTC, nullable=False),
    sa.ForeignKeyConstraint(['artist_id'], ['artists.id'], name=op.f('fk_notify_artist_messages_artist_id_artists'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notify_artist_messages'))
    )
    op.create_index(op.f('ix_notify_artist_messages_artist_id'), 'notify_artist_messages', ['artist_id'])
    op.create_table('notify_message_quota',
    sa.Column('artist_id', sa.Uuid(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('sent', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['artist_id'], ['artists.id'], name=op.f('fk_notify_message_quota_artist_id_artists'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('artist_id', 'day', name=op.f('pk_notify_message_quota'))
    )


def downgrade() -> None:
    op.drop_table('notify_message_quota')
    op.drop_index(op.f('ix_notify_artist_messages_artist_id'), table_name='notify_artist_messages')
    op.drop_table('notify_artist_messages')
    op.drop_table('notify_preferences')
    op.drop_index('ix_notify_deliveries_due', table_name='notify_deliveries')
    op.drop_index('ix_notify_deliveries_inbox', table_name='notify_deliveries')
    op.drop_table('notify_deliveries')
