"""ai tables: interactions + recommendations (owner: reco)

Revision ID: ai_0001
Revises: None
Create Date: 2026-11-29 00:20:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401
import musicconnect.db


revision = 'ai_0001'
down_revision = None
branch_labels = None
depends_on = None

UTC = musicconnect.db.UTCDateTime(timezone=True)
JSON = musicconnect.db.JSONType


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
