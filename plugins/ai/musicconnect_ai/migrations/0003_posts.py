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
    op.create_table(
        "ai_prediction_models",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("fitted_at", UTC, nullable=False),
        sa.Column("window_hours", sa.Integer(), nullable=False),
        sa.Column("n_tracks", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("meta", JSON, nullable=False),
    )
    op.create_index("ix_ai_prediction_models_time", "ai_prediction_models", ["fitted_at"])
    op.create_table(
        "ai_post_drafts",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("artist_id", sa.Uuid(), sa.ForeignKey("artists.id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(64), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("facts", JSON, nullable=False),
        sa.Column("posts", JSON, nullable=False),
        sa.Column("image_key", sa.String(200), nullable=True),
    )
    op.create_index("ix_ai_post_drafts_artist_time", "ai_post_drafts", ["artist_id", "created_at"])


def downgrade() -> None:
    op.drop_table("ai_post_drafts")
    op.drop_table("ai_prediction_models")
