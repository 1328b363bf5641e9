"""Demo data (``demo seed``, ``serve --demo``; idempotent): the demo artist's "Superfans"
collection (backstage for a month, 10 % off) with one rule — Superfan tier for a month — and the
demo superfan's token, queued here and minted by the ``nft.mint`` job on the embedded chain."""
from __future__ import annotations

from sqlalchemy import select

from .criteria import add_criterion, create_collection, qualifying
from .minting import queue_mint
from .models import Collection, Criterion


def seed(platform, session, demo) -> None:
    artist = demo.artist_profile
    coll = session.scalar(select(Collection).where(Collection.artist_id == artist.id, Collection.slug == "superfans"))
    if coll is None:
        coll = create_collection(platform, session, artist.id, slug="superfans", name=f"{artist.name} Superfans",
                                 description="For the fans who stayed.",
                                 perks={"backstage_days": 30, "backstage_tier": "superfan", "discount_percent": 10})
        crit = add_criterion(platform, session, coll, kind="tier_months", params={"tier_key": "superfan", "months": 1},
                             title="Superfan for a month")
    else:
        crit = session.scalar(select(Criterion).where(Criterion.collection_id == coll.id, Criterion.current.is_(True)))
    superfan = getattr(demo, "superfan", None)
    if crit is None or superfan is None:
        return
    met = qualifying(platform, session, crit, user_ids=[superfan.id])
    evidence = met[0][1] if met else {"kind": "tier_months", "tier_key": "superfan", "demo": True}
    queue_mint(platform, session, superfan.id, crit, evidence)
