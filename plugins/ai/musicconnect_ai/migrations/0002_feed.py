"""ai tables: feed + matching (owner: feed)

Revision ID: ai_0002
Revises: ai_0001
Create Date: 2026-11-29 00:20:00

* ``ai_feed_impressions``: every discovery-feed card served (fan, track, bucket, page session)
  and what the fan did with it (completion or skip, watch time, like, follow, subscribe click);
* ``ai_feed_track_stats``: per track, the feed's completions / skips / likes (the bandit's
  Beta posterior);
* ``ai_artist_stats``: per artist, its engaged audience at the last matching run;
* ``ai_artist_matches``: per artist, its top matches by fan overlap (Jaccard, lift, reasons).
"""
from alembic import op
import sqlalchemy as sa
import musicconnect.db


revision = 'ai_0002'
down_revision = 'ai_0001'
branch_labels = None
depends_on = None

UTC = musicconnect.db.UTCDateTime(timezone=True)
JSON = musicconnect.db.JSONType


def upgrade() -> None:
    op.create_table('ai_feed_impressions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('session_id', sa.Uuid(), nullable=False),
    sa.Column('content_id', sa.Uuid(), nullable=False),
    sa.Column('artist_id', sa.Uuid(), nullable=False),
    sa.Column('bucket', sa.String(length=16), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('served_at', UTC, nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('watch_seconds', sa.Float(), nullable=False),
    sa.Column('liked', sa.Boolean(), nullable=False),
    sa.Column('followed', sa.Boolean(), nullable=False),
    sa.Column('subscribe_clicked', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_ai_feed_impressions_user_id_users'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['content_id'], ['content_items.id'],
                            name=op.f('fk_ai_feed_impressions_content_id_content_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['artist_id'], ['artists.id'], name=op.f('fk_ai_feed_impressions_artist_id_artists'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ai_feed_impressions'))
    )
    op.create_index('ix_ai_feed_impressions_user_served', 'ai_feed_impressions', ['user_id', 'served_at'])
    op.create_index('ix_ai_feed_impressions_session', 'ai_feed_impressions', ['session_id'])
    op.create_index('ix_ai_feed_impressions_served', 'ai_feed_impressions', ['served_at', 'bucket'])
    op.create_index('ix_ai_feed_impressions_artist_served', 'ai_feed_impressions', ['artist_id', 'served_at'])
    op.create_table('ai_feed_track_stats',
    sa.Column('content_id', sa.Uuid(), nullable=False),
    sa.Column('completions', sa.Integer(), nullable=False),
    sa.Column('skips', sa.Integer(), nullable=False),
    sa.Column('likes', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['content_id'], ['content_items.id'],
                            name=op.f('fk_ai_feed_track_stats_content_id_content_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('content_id', name=op.f('pk_ai_feed_track_stats'))
    )
    op.create_table('ai_artist_stats',
    sa.Column('artist_id', sa.Uuid(), nullable=False),
    sa.Column('engaged_fans', sa.Integer(), nullable=False),
    sa.Column('computed_at', UTC, nullable=False),
    sa.ForeignKeyConstraint(['artist_id'], ['artists.id'], name=op.f('fk_ai_artist_stats_artist_id_artists'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('artist_id', name=op.f('pk_ai_artist_stats'))
    )
    op.create_table('ai_artist_matches',
    sa.Column('artist_id', sa.Uuid(), nullable=False),
    sa.Column('other_id', sa.Uuid(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('shared', sa.Integer(), nullable=False),
    sa.Column('jaccard', sa.Float(), nullable=False),
    sa.Column('lift', sa.Float(), nullable=False),
    sa.Column('reasons', JSON, nullable=False),
    sa.Column('computed_at', UTC, nullable=False),
    sa.ForeignKeyConstraint(['artist_id'], ['artists.id'], name=op.f('fk_ai_artist_matches_artist_id_artists'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['other_id'], ['artists.id'], name=op.f('fk_ai_artist_matches_other_id_artists'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('artist_id', 'other_id', name=op.f('pk_ai_artist_matches'))
    )


def downgrade() -> None:
    op.drop_table('ai_artist_matches')
    op.drop_table('ai_artist_stats')
    op.drop_table('ai_feed_track_stats')
    op.drop_index('ix_ai_feed_impressions_artist_served', table_name='ai_feed_impressions')
    op.drop_index('ix_ai_feed_impressions_served', table_name='ai_feed_impressions')
    op.drop_index('ix_ai_feed_impressions_session', table_name='ai_feed_impressions')
    op.drop_index('ix_ai_feed_impressions_user_served', table_name='ai_feed_impressions')
    op.drop_table('ai_feed_impressions')
