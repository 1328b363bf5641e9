"""streaming tables

Revision ID: streaming_0001
Revises: 
Create Date: 2026-11-26 15:12:05.591498
"""
from alembic import op
import sqlalchemy as sa
import musicconnect.db
from sqlalchemy.dialects import postgresql

revision = 'streaming_0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('streaming_downloads',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('content_id', sa.Uuid(), nullable=False),
    sa.Column('artist_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['artist_id'], ['artists.id'], name=op.f('fk_streaming_downloads_artist_id_artists'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['content_id'], ['content_items.id'], name=op.f('fk_streaming_downloads_content_id_content_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_streaming_downloads_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_streaming_downloads'))
    )
    with op.batch_alter_table('streaming_downloads', schema=None) as batch_op:
        batch_op.create_index('ix_streaming_downloads_user_time', ['user_id', 'created_at'], unique=False)

    op.create_table('streaming_plays',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('content_id', sa.Uuid(), nullable=False),
    sa.Column('artist_id', sa.Uuid(), nullable=False),
    sa.Column('listener', sa.String(length=80), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('started_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_report_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('duration', sa.Float(), nullable=False),
    sa.Column('counted_at', musicconnect.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('completed', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['artist_id'], ['artists.id'], name=op.f('fk_streaming_plays_artist_id_artists'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['content_id'], ['content_items.id'], name=op.f('fk_streaming_plays_content_id_content_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_streaming_plays_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_streaming_plays'))
    )
    with op.batch_alter_table('streaming_plays', schema=None) as batch_op:
        batch_op.create_index('ix_streaming_plays_artist_counted', ['artist_id', 'counted_at'], unique=False)
        batch_op.create_index('ix_streaming_plays_dedupe', ['listener', 'content_id', 'counted_at'], unique=False)

    op.create_table('streaming_tracks',
    sa.Column('content_id', sa.Uuid(), nullable=False),
    sa.Column('artist_id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('pending_version', sa.Integer(), nullable=True),
    sa.Column('preview_start', sa.Float(), nullable=True),
    sa.Column('quarantined', sa.Boolean(), nullable=False),
    sa.Column('created_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['artist_id'], ['artists.id'], name=op.f('fk_streaming_tracks_artist_id_artists'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['content_id'], ['content_items.id'], name=op.f('fk_streaming_tracks_content_id_content_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('content_id', name=op.f('pk_streaming_tracks'))
    )
    with op.batch_alter_table('streaming_tracks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_streaming_tracks_artist_id'), ['artist_id'], unique=False)

    op.create_table('streaming_versions',
    sa.Column('content_id', sa.Uuid(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('original_key', sa.String(length=500), nullable=False),
    sa.Column('original_filename', sa.String(length=300), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('probe', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('duration', sa.Float(), nullable=False),
    sa.Column('loudness_lufs', sa.Float(), nullable=True),
    sa.Column('true_peak_db', sa.Float(), nullable=True),
    sa.Column('preview_start', sa.Float(), nullable=True),
    sa.Column('renditions', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('artwork', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('aes_key', sa.LargeBinary(length=16), nullable=False),
    sa.Column('aes_iv', sa.String(length=34), nullable=False),
    sa.Column('job_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ready_at', musicconnect.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['content_id'], ['content_items.id'], name=op.f('fk_streaming_versions_content_id_content_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('content_id', 'version', name=op.f('pk_streaming_versions'))
    )



def downgrade() -> None:

    op.drop_table('streaming_versions')
    with op.batch_alter_table('streaming_tracks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_streaming_tracks_artist_id'))

    op.drop_table('streaming_tracks')
    with op.batch_alter_table('streaming_plays', schema=None) as batch_op:
        batch_op.drop_index('ix_streaming_plays_dedupe')
        batch_op.drop_index('ix_streaming_plays_artist_counted')

    op.drop_table('streaming_plays')
    with op.batch_alter_table('streaming_downloads', schema=None) as batch_op:
        batch_op.drop_index('ix_streaming_downloads_user_time')

    op.drop_table('streaming_downloads')

