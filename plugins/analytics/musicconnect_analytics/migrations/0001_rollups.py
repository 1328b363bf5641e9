"""analytics tables: rollups (owner: rollups/revenue/audience)

Revision ID: analytics_0001
Revises: None
Create Date: 2026-11-28 23:30:00

* ``analytics_rollups``: one additive counter per artist x day x metric x dimension;
* ``analytics_fans``: per artist x fan, the latest play day and a bitmap of the days played
  (active audience and listener segments without one row per fan x day);
* ``analytics_subscriptions``: the last known monthly value of every subscription (MRR movements);
* ``analytics_visibility``: fans who chose to appear by name in an artist's top fans;
* ``analytics_meta``: when the rollups were last flushed / rebuilt (``musicconnect analytics status``).
"""
from alembic import op
import sqlalchemy as sa
import musicconnect.db


revision = 'analytics_0001'
down_revision = None
branch_labels = None
depends_on = None

UTC = musicconnect.db.UTCDateTime(timezone=True)
JSON = musicconnect.db.JSONType


def upgrade() -> None:
    op.create_table('analytics_rollups',
    sa.Column('artist_id', sa.Uuid(), nullable=False),
    sa.Column('metric', sa.String(length=40), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('dimension', sa.String(length=80), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('artist_id', 'metric', 'day', 'dimension', name=op.f('pk_analytics_rollups'))
    )
    op.create_index('ix_analytics_rollups_fan_months', 'analytics_rollups', ['artist_id', 'dimension', 'day'],
                    postgresql_where=sa.text("metric = 'fan_paid_month'"),
                    sqlite_where=sa.text("metric = 'fan_paid_month'"))
    op.create_table('analytics_fans',
    sa.Column('artist_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('last_play', sa.Integer(), nullable=False),
    sa.Column('play_days', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('artist_id', 'user_id', name=op.f('pk_analytics_fans'))
    )
    op.create_index('ix_analytics_fans_artist_last', 'analytics_fans', ['artist_id', 'last_play', 'play_days'])
    op.create_table('analytics_subscriptions',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('artist_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('tier', sa.String(length=64), nullable=False),
    sa.Column('mrr', sa.BigInteger(), nullable=False),
    sa.Column('ever_active', sa.Boolean(), nullable=False),
    sa.Column('updated_at', UTC, nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_analytics_subscriptions'))
    )
    op.create_index('ix_analytics_subscriptions_artist_user', 'analytics_subscriptions', ['artist_id', 'user_id'])
    op.create_table('analytics_visibility',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('show_name', sa.Boolean(), nullable=False),
    sa.Column('updated_at', UTC, nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_analytics_visibility_user_id_users'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_analytics_visibility'))
    )
    op.create_table('analytics_meta',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('at', UTC, nullable=False),
    sa.Column('n', sa.BigInteger(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_analytics_meta'))
    )


def downgrade() -> None:
    op.drop_table('analytics_meta')
    op.drop_table('analytics_visibility')
    op.drop_index('ix_analytics_subscriptions_artist_user', table_name='analytics_subscriptions')
    op.drop_table('analytics_subscriptions')
    op.drop_index('ix_analytics_fans_artist_last', table_name='analytics_fans')
    op.drop_table('analytics_fans')
    op.drop_index('ix_analytics_rollups_fan_months', table_name='analytics_rollups')
    op.drop_table('analytics_rollups')
