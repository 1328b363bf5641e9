"""moderation: abuse detection (owner: abuse): flagged acts and quarantined accounts

Revision ID: moderation_0004
Revises: moderation_0001
Create Date: 2026-11-29 07:10:00
"""
from alembic import op
import sqlalchemy as sa
import musicconnect.db


revision = 'moderation_0004'
down_revision = 'moderation_0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('moderation_abuse_flags',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('at', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.String(length=48), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=True),
    sa.Column('data', musicconnect.db.JSONType, nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['moderation_cases.id'], name=op.f('fk_moderation_abuse_flags_case_id_moderation_cases'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_moderation_abuse_flags_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderation_abuse_flags'))
    )
    op.create_index('ix_moderation_abuse_flags_user', 'moderation_abuse_flags', ['user_id', 'at'], unique=False)
    op.create_index(op.f('ix_moderation_abuse_flags_subject_id'), 'moderation_abuse_flags', ['subject_id'], unique=False)
    op.create_table('moderation_abuse_quarantine',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('since', musicconnect.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=48), nullable=False),
    sa.Column('case_id', sa.Uuid(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['moderation_cases.id'], name=op.f('fk_moderation_abuse_quarantine_case_id_moderation_cases'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_moderation_abuse_quarantine_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_moderation_abuse_quarantine'))
    )


def downgrade() -> None:
    op.drop_table('moderation_abuse_quarantine')
    op.drop_index(op.f('ix_moderation_abuse_flags_subject_id'), table_name='moderation_abuse_flags')
    op.drop_index('ix_moderation_abuse_flags_user', table_name='moderation_abuse_flags')
    op.drop_table('moderation_abuse_flags')
