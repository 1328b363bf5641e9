"""live sessions ("the artist is live"): stream keys and broadcasts

Revision ID: live_0002
Revises: live_0001
Create Date: 2026-11-28 21:00:00
"""
from alembic import op
import sqlalchemy as sa
import musicconnect.db


revision = 'live_0002'
down_revision = 'live_0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('live_stream_keys',
    sa.Column('artist_id', sa.Uuid(), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('hint', sa.String(length=8), nullable=False),
    sa.Column('created_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['artist_id'], ['artists.id'], name=op.f('fk_live_stream_keys_artist_id_artists'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('artist_id', name=op.f('pk_live_stream_keys'))
    )
    op.create_table('live_stream_sessions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('artist_id', sa.Uuid(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('problem', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('access', sa.String(length=16), nullable=False),
    sa.Column('required_tier_id', sa.Uuid(), nullable=True),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('aes_key', sa.LargeBinary(length=16), nullable=False),
    sa.Column('created_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', musicconnect.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_at', musicconnect.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', musicconnect.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('recording_key', sa.String(length=300), nullable=True),
    sa.Column('track_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['artist_id'], ['artists.id'], name=op.f('fk_live_stream_sessions_artist_id_artists'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['required_tier_id'], ['tiers.id'], name=op.f('fk_live_stream_sessions_required_tier_id_tiers'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_live_stream_sessions'))
    )
    with op.batch_alter_table('live_stream_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_live_stream_sessions_artist_id'), ['artist_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_live_stream_sessions_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('live_stream_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_live_stream_sessions_status'))
        batch_op.drop_index(batch_op.f('ix_live_stream_sessions_artist_id'))
    op.drop_table('live_stream_sessions')
    op.drop_table('live_stream_keys')
