"""bundles and payouts

Revision ID: coop_0004
Revises: coop_0003
Create Date: 2026-11-29 14:40:00
"""
from alembic import op
import sqlalchemy as sa
import musicconnect.db

revision = 'coop_0004'
down_revision = 'coop_0003'
branch_labels = None
depends_on = None

OLD_KINDS = "kind in ('add_member','remove_member','change_rules','change_split','dissolve')"
NEW_KINDS = ("kind in ('add_member','remove_member','change_rules','change_split','dissolve',"
             "'create_bundle','change_bundle')")


def upgrade() -> None:
    op.create_table('coop_bundles',
    sa.Column('tier_id', sa.Uuid(), nullable=False),
    sa.Column('coop_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status in ('pending','active','retired')", name=op.f('ck_coop_bundles_status')),
    sa.ForeignKeyConstraint(['coop_id'], ['coop_coops.id'], name=op.f('fk_coop_bundles_coop_id_coop_coops'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tier_id'], ['tiers.id'], name=op.f('fk_coop_bundles_tier_id_tiers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tier_id', name=op.f('pk_coop_bundles'))
    )
    with op.batch_alter_table('coop_bundles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coop_bundles_coop_id'), ['coop_id'], unique=False)
    op.create_table('coop_bundle_members',
    sa.Column('bundle_tier_id', sa.Uuid(), nullable=False),
    sa.Column('artist_id', sa.Uuid(), nullable=False),
    sa.Column('included_tier_id', sa.Uuid(), nullable=True),
    sa.Column('chosen_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['artist_id'], ['artists.id'], name=op.f('fk_coop_bundle_members_artist_id_artists'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['bundle_tier_id'], ['coop_bundles.tier_id'], name=op.f('fk_coop_bundle_members_bundle_tier_id_coop_bundles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['included_tier_id'], ['tiers.id'], name=op.f('fk_coop_bundle_members_included_tier_id_tiers'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('bundle_tier_id', 'artist_id', name=op.f('pk_coop_bundle_members'))
    )
    with op.batch_alter_table('coop_bundle_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coop_bundle_members_artist_id'), ['artist_id'], unique=False)
    op.create_table('coop_payouts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('coop_id', sa.Uuid(), nullable=False),
    sa.Column('payment_ref', sa.String(length=255), nullable=False),
    sa.Column('artist_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('provider', sa.String(length=64), nullable=False),
    sa.Column('provider_ref', sa.String(length=255), nullable=False),
    sa.Column('transfer_ref', sa.String(length=255), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('idem_key', sa.String(length=255), nullable=False),
    sa.Column('created_at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind in ('transfer','reversal')", name=op.f('ck_coop_payouts_kind')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_coop_payouts_amount')),
    sa.ForeignKeyConstraint(['coop_id'], ['coop_coops.id'], name=op.f('fk_coop_payouts_coop_id_coop_coops'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coop_payouts')),
    sa.UniqueConstraint('idem_key', name=op.f('uq_coop_payouts_idem_key'))
    )
    with op.batch_alter_table('coop_payouts', schema=None) as batch_op:
        batch_op.create_index('ix_coop_payouts_payment', ['coop_id', 'payment_ref', 'artist_id'], unique=False)
    with op.batch_alter_table('coop_proposals', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_coop_proposals_kind'), type_='check')
        batch_op.create_check_constraint('kind', NEW_KINDS)


def downgrade() -> None:
    with op.batch_alter_table('coop_proposals', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_coop_proposals_kind'), type_='check')
        batch_op.create_check_constraint('kind', OLD_KINDS)
    with op.batch_alter_table('coop_payouts', schema=None) as batch_op:
        batch_op.drop_index('ix_coop_payouts_payment')
    op.drop_table('coop_payouts')
    with op.batch_alter_table('coop_bundle_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coop_bundle_members_artist_id'))
    op.drop_table('coop_bundle_members')
    with op.batch_alter_table('coop_bundles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coop_bundles_coop_id'))
    op.drop_table('coop_bundles')
