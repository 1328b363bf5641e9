"""ai tables: prediction + posts (owner: posts)

Revision ID: ai_0003
Revises: ai_0002
Create Date: 2026-11-29 00:20:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401
import musicconnect.db


revision = 'ai_0003'
down_revision = 'ai_0002'
branch_labels = None
depends_on = None

UTC = musicconnect.db.UTCDateTime(timezone=True)
JSON = musicconnect.db.JSONType


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
