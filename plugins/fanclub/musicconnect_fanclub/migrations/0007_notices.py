"""fan club notices (early access opened, Wrapped ready: emitted once)

Revision ID: fanclub_0007
Revises: fanclub_0006
Create Date: 2026-11-28 21:45:00

One row per event the fan club's periodic jobs emitted, keyed by what it is about.
"""
from alembic import op
import sqlalchemy as sa
import musicconnect.db


revision = 'fanclub_0007'
down_revision = 'fanclub_0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('fanclub_notices',
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('created_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_fanclub_notices'))
    )


def downgrade() -> None:
    op.drop_table('fanclub_notices')
