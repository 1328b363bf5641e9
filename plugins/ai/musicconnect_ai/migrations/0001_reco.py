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
    op.create_table(
        "ai_interactions",
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("content_id", sa.Uuid(), sa.ForeignKey("content_items.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("artist_id", sa.Uuid(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("last_at", UTC, nullable=False),
    )
    op.create_index("ix_ai_interactions_content", "ai_interactions", ["content_id"])
    op.create_index("ix_ai_interactions_artist", "ai_interactions", ["artist_id", "user_id"])
    op.create_table(
        "ai_affinity",
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("artist_id", sa.Uuid(), sa.ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("follows", sa.Integer(), nullable=False),
        sa.Column("supports", sa.Integer(), nullable=False),
        sa.Column("last_at", UTC, nullable=False),
    )
    op.create_index("ix_ai_affinity_artist", "ai_affinity", ["artist_id", "user_id"])
    op.create_table(
        "ai_models",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("fitted_at", UTC, nullable=False),
        sa.Column("storage_key", sa.String(200), nullable=True),
        sa.Column("n_fans", sa.Integer(), nullable=False),
        sa.Column("n_tracks", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("meta", JSON, nullable=False),
    )
    op.create_index("ix_ai_models_status_time", "ai_models", ["status", "fitted_at"])


def downgrade() -> None:
    op.drop_table("ai_models")
    op.drop_table("ai_affinity")
    op.drop_table("ai_interactions")
