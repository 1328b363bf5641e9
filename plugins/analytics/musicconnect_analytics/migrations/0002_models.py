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
    op.create_table(
        "analytics_model_fits",
        sa.Column("artist_id", sa.Uuid(), sa.ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("model", sa.String(32), primary_key=True),
        sa.Column("fitted_at", UTC, nullable=False),
        sa.Column("result", JSON, nullable=False),
    )
    op.create_table(
        "analytics_share_links",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("code", sa.String(16), nullable=False, unique=True),
        sa.Column("artist_id", sa.Uuid(), sa.ForeignKey("artists.id", ondelete="CASCADE"), nullable=False),
        sa.Column("content_id", sa.Uuid(), sa.ForeignKey("content_items.id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
    )
    op.create_index("ix_analytics_share_links_artist_time", "analytics_share_links", ["artist_id", "created_at"])
    op.create_index("ix_analytics_share_links_sharer", "analytics_share_links", ["user_id", "content_id"])
    op.create_table(
        "analytics_share_clicks",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("link_id", sa.Uuid(), sa.ForeignKey("analytics_share_links.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("artist_id", sa.Uuid(), nullable=False),
        sa.Column("content_id", sa.Uuid(), nullable=False),
        sa.Column("visitor", sa.String(80), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("clicked_at", UTC, nullable=False),
    )
    op.create_index("ix_analytics_share_clicks_artist_time", "analytics_share_clicks", ["artist_id", "clicked_at"])
    op.create_index("ix_analytics_share_clicks_link_visitor", "analytics_share_clicks", ["link_id", "visitor"])
    op.create_table(
        "analytics_churn_scores",
        sa.Column("artist_id", sa.Uuid(), sa.ForeignKey("artists.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reasons", JSON, nullable=False),
        sa.Column("tier_key", sa.String(64), nullable=False),
        sa.Column("valued", sa.Boolean(), nullable=False),
        sa.Column("raised", sa.Boolean(), nullable=False),
        sa.Column("scored_at", UTC, nullable=False),
    )
    op.create_index("ix_analytics_churn_scores_rank", "analytics_churn_scores", ["artist_id", "score"])


def downgrade() -> None:
    op.drop_table("analytics_churn_scores")
    op.drop_table("analytics_share_clicks")
    op.drop_table("analytics_share_links")
    op.drop_table("analytics_model_fits")
