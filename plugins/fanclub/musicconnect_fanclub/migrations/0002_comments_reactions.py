"""comments and reactions

Revision ID: fanclub_0002
Revises: fanclub_0001
Create Date: 2026-11-26 15:55:46.427541
"""
from alembic import op
import sqlalchemy as sa
import musicconnect.db


revision = 'fanclub_0002'
down_revision = 'fanclub_0001'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('fanclub_comments',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('content_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['content_id'], ['content_items.id'], name=op.f('fk_fanclub_comments_content_id_content_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_fanclub_comments_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fanclub_comments'))
    )
    with op.batch_alter_table('fanclub_comments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fanclub_comments_content_id'), ['content_id'], unique=False)

    op.create_table('fanclub_reactions',
    sa.Column('content_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('created_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['content_id'], ['content_items.id'], name=op.f('fk_fanclub_reactions_content_id_content_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_fanclub_reactions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('content_id', 'user_id', 'kind', name=op.f('pk_fanclub_reactions'))
    )



def downgrade() -> None:

    op.drop_table('fanclub_reactions')
    with op.batch_alter_table('fanclub_comments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fanclub_comments_content_id'))

    op.drop_table('fanclub_comments')

