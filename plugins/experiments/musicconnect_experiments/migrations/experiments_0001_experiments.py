"""experiments tables: experiments and first exposures

Revision ID: experiments_0001
Revises: 
Create Date: 2026-11-29 10:30:00
"""
from alembic import op
import sqlalchemy as sa
import musicconnect.db
from sqlalchemy.dialects import postgresql

revision = 'experiments_0001'
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('experiments_experiments',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('flag_key', sa.String(length=100), nullable=False),
    sa.Column('environment', sa.String(length=32), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('control', sa.String(length=64), nullable=False),
    sa.Column('weights', JSON, nullable=False),
    sa.Column('coverage', sa.Float(), nullable=False),
    sa.Column('metrics', JSON, nullable=False),
    sa.Column('created_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', musicconnect.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('stopped_at', musicconnect.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_experiments_experiments')),
    sa.UniqueConstraint('key', name=op.f('uq_experiments_experiments_key'))
    )
    op.create_table('experiments_exposures',
    sa.Column('experiment_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('variant', sa.String(length=64), nullable=False),
    sa.Column('exposed_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['experiment_id'], ['experiments_experiments.id'], name=op.f('fk_experiments_exposures_experiment_id_experiments_experiments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_experiments_exposures_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('experiment_id', 'user_id', name=op.f('pk_experiments_exposures'))
    )
    with op.batch_alter_table('experiments_exposures', schema=None) as batch_op:
        batch_op.create_index('ix_experiments_exposures_user', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_table('experiments_exposures')
    op.drop_table('experiments_experiments')
