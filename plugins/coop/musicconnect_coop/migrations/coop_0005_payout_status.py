"""payouts: pending / done / failed (a move is committed before the provider is asked)

Revision ID: coop_0005
Revises: coop_0004
Create Date: 2026-11-29 15:20:00
"""
from alembic import op
import sqlalchemy as sa

revision = 'coop_0005'
down_revision = 'coop_0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('coop_payouts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=12), server_default='done', nullable=False))
        batch_op.alter_column('provider_ref', existing_type=sa.String(length=255), nullable=True)
        batch_op.create_check_constraint('status', "status in ('pending','done','failed','unclaimable')")


def downgrade() -> None:
    op.execute("DELETE FROM coop_payouts WHERE status <> 'done'")
    with op.batch_alter_table('coop_payouts', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_coop_payouts_status'), type_='check')
        batch_op.alter_column('provider_ref', existing_type=sa.String(length=255), nullable=False)
        batch_op.drop_column('status')
