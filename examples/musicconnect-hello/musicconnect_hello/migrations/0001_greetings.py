"""hello: greetings table

Revision ID: hello_0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

import musicconnect.db

revision = "hello_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hello_greetings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("artist_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("created_at", musicconnect.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["artist_id"], ["artists.id"], name=op.f("fk_hello_greetings_artist_id_artists"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_hello_greetings_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hello_greetings")),
    )
    op.create_index(op.f("ix_hello_greetings_artist_id"), "hello_greetings", ["artist_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_hello_greetings_artist_id"), table_name="hello_greetings")
    op.drop_table("hello_greetings")
