"""fan privacy (appear as "A fan")

Revision ID: fanclub_0006
Revises: fanclub_0005
Create Date: 2026-11-28 20:30:00

One row per fan who chose how the fan club shows them to others.
"""
from alembic import op
import sqlalchemy as sa
import musicconnect.db


revision = 'fanclub_0006'
down_revision = 'fanclub_0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('fanclub_privacy',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('anonymous', sa.Boolean(), nullable=False),
    sa.Column('updated_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_fanclub_privacy_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_fanclub_privacy'))
    )


def downgrade() -> None:
    op.drop_table('fanclub_privacy')
