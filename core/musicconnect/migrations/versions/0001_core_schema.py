"""core schema

Revision ID: 0001_core
Revises: 
Create Date: 2026-11-26 14:40:55.726047
"""
from alembic import op
import sqlalchemy as sa
import musicconnect.db
from sqlalchemy.dialects import postgresql

revision = '0001_core'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('domain_events',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('occurred_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('artist_id', sa.Uuid(), nullable=True),
    sa.Column('subject_type', sa.String(length=64), nullable=True),
    sa.Column('subject_id', sa.String(length=64), nullable=True),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_domain_events'))
    )
    with op.batch_alter_table('domain_events', schema=None) as batch_op:
        batch_op.create_index('ix_events_artist_type_time', ['artist_id', 'type', 'occurred_at'], unique=False)
        batch_op.create_index('ix_events_type_time', ['type', 'occurred_at'], unique=False)

    op.create_table('plugin_state',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('config', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('updated_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_plugin_state'))
    )
    op.create_table('users',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('display_name', sa.String(length=120), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role in ('fan','artist','admin')", name=op.f('ck_users_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    op.create_table('api_tokens',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('scopes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', musicconnect.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', musicconnect.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', musicconnect.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('artists',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('slug', sa.String(length=200), nullable=False),
    sa.Column('bio', sa.Text(), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('created_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_artists_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_artists')),
    sa.UniqueConstraint('slug', name=op.f('uq_artists_slug')),
    sa.UniqueConstraint('user_id', name=op.f('uq_artists_user_id'))
    )
    op.create_table('jobs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('actor', sa.String(length=120), nullable=False),
    sa.Column('owner_id', sa.Uuid(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('progress', sa.Double(), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('subject_type', sa.String(length=64), nullable=True),
    sa.Column('subject_id', sa.String(length=64), nullable=True),
    sa.Column('args', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('result', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_jobs_owner_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs'))
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index('ix_jobs_state', ['state'], unique=False)
        batch_op.create_index('ix_jobs_subject', ['subject_type', 'subject_id'], unique=False)

    op.create_table('refresh_tokens',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('family_id', sa.Uuid(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('issued_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', musicconnect.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', musicconnect.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_refresh_tokens_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refresh_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_refresh_tokens_token_hash'))
    )
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refresh_tokens_family_id'), ['family_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_refresh_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('tiers',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('artist_id', sa.Uuid(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('price_amount', sa.Integer(), nullable=False),
    sa.Column('yearly_amount', sa.Integer(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('perks', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('price_amount >= 0', name=op.f('ck_tiers_price_nonnegative')),
    sa.ForeignKeyConstraint(['artist_id'], ['artists.id'], name=op.f('fk_tiers_artist_id_artists'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tiers')),
    sa.UniqueConstraint('artist_id', 'key', name='artist_key')
    )
    with op.batch_alter_table('tiers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tiers_artist_id'), ['artist_id'], unique=False)

    op.create_table('content_items',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('artist_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('visibility', sa.String(length=16), nullable=False),
    sa.Column('required_tier_id', sa.Uuid(), nullable=True),
    sa.Column('publish_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status in ('draft','processing','ready','failed','taken_down')", name=op.f('ck_content_items_status')),
    sa.CheckConstraint("visibility = 'public' or required_tier_id is not null", name=op.f('ck_content_items_tier_needs_tier')),
    sa.CheckConstraint("visibility in ('public','tier')", name=op.f('ck_content_items_visibility')),
    sa.ForeignKeyConstraint(['artist_id'], ['artists.id'], name=op.f('fk_content_items_artist_id_artists'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['required_tier_id'], ['tiers.id'], name=op.f('fk_content_items_required_tier_id_tiers'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_content_items'))
    )
    with op.batch_alter_table('content_items', schema=None) as batch_op:
        batch_op.create_index('ix_content_artist_publish', ['artist_id', 'publish_at'], unique=False)

    op.create_table('entitlements',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('artist_id', sa.Uuid(), nullable=False),
    sa.Column('tier_id', sa.Uuid(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('source_ref', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('starts_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', musicconnect.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status in ('active','past_due','cancelled','ended')", name=op.f('ck_entitlements_status')),
    sa.ForeignKeyConstraint(['artist_id'], ['artists.id'], name=op.f('fk_entitlements_artist_id_artists'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tier_id'], ['tiers.id'], name=op.f('fk_entitlements_tier_id_tiers'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_entitlements_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_entitlements')),
    sa.UniqueConstraint('source', 'source_ref', name='source_ref')
    )
    with op.batch_alter_table('entitlements', schema=None) as batch_op:
        batch_op.create_index('ix_entitlements_user_artist', ['user_id', 'artist_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('entitlements', schema=None) as batch_op:
        batch_op.drop_index('ix_entitlements_user_artist')

    op.drop_table('entitlements')
    with op.batch_alter_table('content_items', schema=None) as batch_op:
        batch_op.drop_index('ix_content_artist_publish')

    op.drop_table('content_items')
    with op.batch_alter_table('tiers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tiers_artist_id'))

    op.drop_table('tiers')
    with op.batch_alter_table('refresh_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refresh_tokens_user_id'))
        batch_op.drop_index(batch_op.f('ix_refresh_tokens_family_id'))

    op.drop_table('refresh_tokens')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_subject')
        batch_op.drop_index('ix_jobs_state')

    op.drop_table('jobs')
    op.drop_table('artists')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))

    op.drop_table('api_tokens')
    op.drop_table('users')
    op.drop_table('plugin_state')
    with op.batch_alter_table('domain_events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_type_time')
        batch_op.drop_index('ix_events_artist_type_time')

    op.drop_table('domain_events')

