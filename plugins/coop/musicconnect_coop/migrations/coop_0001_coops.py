"""co-ops, members, proposals, votes

Revision ID: coop_0001
Revises: 
Create Date: 2026-11-29 14:20:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401
import musicconnect.db  # noqa: F401

revision = 'coop_0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
