"""feature flags (branch "flags" from the core schema)

Revision ID: 0002_flags
Revises: 0001_core
Create Date: 2026-11-29 10:20:00
"""
from alembic import op
import sqlalchemy as sa
import musicconnect.db
from sqlalchemy.dialects import postgresql

revision = '0002_flags'
down_revision = '0001_core'
branch_labels = ('flags',)
depends_on = None


def upgrade() -> None:
    op.create_table('feature_flags',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('environment', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('variants', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('default_variant', sa.String(length=64), nullable=False),
    sa.Column('rules', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('client_visible', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['updated_by'], ['users.id'], name=op.f('fk_feature_flags_updated_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feature_flags')),
    sa.UniqueConstraint('environment', 'key', name='environment_key')
    )


def downgrade() -> None:
    op.drop_table('feature_flags')
