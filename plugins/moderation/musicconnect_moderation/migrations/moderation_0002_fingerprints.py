"""moderation: audio fingerprints (owner: fingerprint)

Revision ID: moderation_0002
Revises: moderation_0001
Create Date: 2026-11-29 07:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import musicconnect.db


revision = 'moderation_0002'
down_revision = 'moderation_0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('moderation_fingerprints',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('content_id', sa.Uuid(), nullable=False),
    sa.Column('artist_id', sa.Uuid(), nullable=False),
    sa.Column('duration', sa.Float(), nullable=False),
    sa.Column('fingerprint', sa.LargeBinary(), nullable=False),
    sa.Column('index_keys', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['artist_id'], ['artists.id'], name=op.f('fk_moderation_fingerprints_artist_id_artists'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['content_id'], ['content_items.id'], name=op.f('fk_moderation_fingerprints_content_id_content_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_moderation_fingerprints')),
    sa.UniqueConstraint('content_id', name=op.f('uq_moderation_fingerprints_content_id'))
    )
    with op.batch_alter_table('moderation_fingerprints', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_moderation_fingerprints_artist_id'), ['artist_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('moderation_fingerprints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_moderation_fingerprints_artist_id'))
    op.drop_table('moderation_fingerprints')
