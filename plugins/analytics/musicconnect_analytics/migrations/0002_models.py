"""analytics tables: models: share links, churn scores, fitted models (owner: models)

Revision ID: analytics_0002
Revises: analytics_0001
Create Date: 2026-11-28 23:30:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401
import musicconnect.db


revision = 'analytics_0002'
down_revision = 'analytics_0001'
branch_labels = None
depends_on = None

UTC = musicconnect.db.UTCDateTime(timezone=True)
JSON = musicconnect.db.JSONType


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
