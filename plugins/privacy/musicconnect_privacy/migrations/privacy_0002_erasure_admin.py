"""erasure admin: the admin who ran an erasure is recorded on its receipt

Revision ID: privacy_0002
Revises: privacy_0001
Create Date: 2026-11-29 07:40:00
"""
from alembic import op
import sqlalchemy as sa

revision = 'privacy_0002'
down_revision = 'privacy_0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('privacy_erasures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('admin_id', sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('privacy_erasures', schema=None) as batch_op:
        batch_op.drop_column('admin_id')
