"""post data without storage keys

Revision ID: fanclub_0004
Revises: fanclub_0003
Create Date: 2026-11-28 17:00:00

Posts written before storage keys were derived kept a ``key`` per image rendition, taken from
what was stored (or, through the generic content API, from what a client sent). Keys that are
the derived ``posts/<id>/img<i>_<size>.jpg`` are dropped (the server derives them again); an
image entry with any other key is dropped, with those after it (positions name the files).
"""
from alembic import op
import sqlalchemy as sa
import musicconnect.db


revision = 'fanclub_0004'
down_revision = 'fanclub_0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    from musicconnect_fanclub.schema import clean_stored

    items = sa.table('content_items', sa.column('id', sa.Uuid()), sa.column('kind', sa.String()),
                     sa.column('data', musicconnect.db.JSONType))
    conn = op.get_bind()
    for pid, data in conn.execute(sa.select(items.c.id, items.c.data).where(items.c.kind == 'post')).all():
        new = clean_stored(pid, data)
        if new is not None:
            conn.execute(sa.update(items).where(items.c.id == pid).values(data=new))


def downgrade() -> None:
    pass  # the keys are derived from the post id; nothing to restore
