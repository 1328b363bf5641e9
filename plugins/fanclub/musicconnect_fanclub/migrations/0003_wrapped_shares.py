"""wrapped shares

Revision ID: fanclub_0003
Revises: fanclub_0002
Create Date: 2026-11-26 15:56:43.508389
"""
from alembic import op
import sqlalchemy as sa
import musicconnect.db


revision = 'fanclub_0003'
down_revision = 'fanclub_0002'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('fanclub_wrapped_shares',
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('sections', sa.String(length=200), nullable=False),
    sa.Column('show_name', sa.Boolean(), nullable=False),
    sa.Column('created_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', musicconnect.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_fanclub_wrapped_shares_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token', name=op.f('pk_fanclub_wrapped_shares'))
    )
    with op.batch_alter_table('fanclub_wrapped_shares', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fanclub_wrapped_shares_user_id'), ['user_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('fanclub_wrapped_shares', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fanclub_wrapped_shares_user_id'))

    op.drop_table('fanclub_wrapped_shares')

