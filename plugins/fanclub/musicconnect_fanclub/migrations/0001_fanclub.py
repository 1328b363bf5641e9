"""fanclub tables

Revision ID: fanclub_0001
Revises: 
Create Date: 2026-11-26 15:49:31.727029
"""
from alembic import op
import sqlalchemy as sa
import musicconnect.db


revision = 'fanclub_0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('fanclub_backstage',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('artist_id', sa.Uuid(), nullable=False),
    sa.Column('author_id', sa.Uuid(), nullable=False),
    sa.Column('parent_id', sa.Uuid(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['artist_id'], ['artists.id'], name=op.f('fk_fanclub_backstage_artist_id_artists'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_fanclub_backstage_author_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['parent_id'], ['fanclub_backstage.id'], name=op.f('fk_fanclub_backstage_parent_id_fanclub_backstage'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fanclub_backstage'))
    )
    with op.batch_alter_table('fanclub_backstage', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fanclub_backstage_artist_id'), ['artist_id'], unique=False)

    op.create_table('fanclub_follows',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('artist_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['artist_id'], ['artists.id'], name=op.f('fk_fanclub_follows_artist_id_artists'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_fanclub_follows_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'artist_id', name=op.f('pk_fanclub_follows'))
    )
    op.create_table('fanclub_messages',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('artist_id', sa.Uuid(), nullable=False),
    sa.Column('fan_id', sa.Uuid(), nullable=False),
    sa.Column('sender', sa.String(length=8), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['artist_id'], ['artists.id'], name=op.f('fk_fanclub_messages_artist_id_artists'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['fan_id'], ['users.id'], name=op.f('fk_fanclub_messages_fan_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fanclub_messages'))
    )
    with op.batch_alter_table('fanclub_messages', schema=None) as batch_op:
        batch_op.create_index('ix_fanclub_messages_conv', ['artist_id', 'fan_id', 'created_at'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('fanclub_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_fanclub_messages_conv')

    op.drop_table('fanclub_messages')
    op.drop_table('fanclub_follows')
    with op.batch_alter_table('fanclub_backstage', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fanclub_backstage_artist_id'))

    op.drop_table('fanclub_backstage')

