"""DM quota counters

Revision ID: fanclub_0005
Revises: fanclub_0004
Create Date: 2026-11-28 17:10:00

One row per (fan, artist, quota period); the quota is taken with a conditional UPDATE whose row
count decides (atomic on SQLite and PostgreSQL).
"""
from alembic import op
import sqlalchemy as sa
import musicconnect.db


revision = 'fanclub_0005'
down_revision = 'fanclub_0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('fanclub_dm_counters',
    sa.Column('fan_id', sa.Uuid(), nullable=False),
    sa.Column('artist_id', sa.Uuid(), nullable=False),
    sa.Column('period_start', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['artist_id'], ['artists.id'], name=op.f('fk_fanclub_dm_counters_artist_id_artists'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['fan_id'], ['users.id'], name=op.f('fk_fanclub_dm_counters_fan_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('fan_id', 'artist_id', 'period_start', name=op.f('pk_fanclub_dm_counters'))
    )


def downgrade() -> None:
    op.drop_table('fanclub_dm_counters')
