"""download quota counter rows, orphan sweep suspects

Revision ID: streaming_0002
Revises: streaming_0001
Create Date: 2026-12-02 10:00:00
"""
from collections import Counter

from alembic import op
import sqlalchemy as sa
import musicconnect.db


revision = 'streaming_0002'
down_revision = 'streaming_0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('streaming_download_counts',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('used', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_streaming_download_counts_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'period', name=op.f('pk_streaming_download_counts'))
    )
    op.create_table('streaming_orphan_suspects',
    sa.Column('prefix', sa.String(length=300), nullable=False),
    sa.Column('first_seen', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('prefix', name=op.f('pk_streaming_orphan_suspects'))
    )
    # carry the downloads already taken into the counters (the quota of the running month holds)
    conn = op.get_bind()
    downloads = sa.table('streaming_downloads', sa.column('user_id', sa.Uuid()),
                         sa.column('created_at', musicconnect.db.UTCDateTime(timezone=True)))
    counts = Counter((user_id, created.strftime('%Y-%m'))
                     for user_id, created in conn.execute(sa.select(downloads.c.user_id, downloads.c.created_at)))
    if counts:
        target = sa.table('streaming_download_counts', sa.column('user_id', sa.Uuid()),
                          sa.column('period', sa.String(7)), sa.column('used', sa.Integer()))
        op.bulk_insert(target, [{'user_id': u, 'period': p, 'used': n} for (u, p), n in counts.items()])


def downgrade() -> None:
    op.drop_table('streaming_orphan_suspects')
    op.drop_table('streaming_download_counts')
