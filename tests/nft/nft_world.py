"""A small world for the nft plugin's HTTP tests: an artist with a collection and a criterion, a
fan, and real mints on the embedded eth-tester chain (driven by the plugin's own ``tick``)."""
from __future__ import annotations

import secrets
import uuid

from sqlalchemy import select


def make_collection(p, artist_id, *, perks=None, kind="tier_months", params=None, name="Inner circle"):
    from musicconnect_nft.models import Collection, Criterion

    now = p.clock.now()
    with p.session() as s:
        coll = Collection(id=uuid.uuid4(), artist_id=artist_id, slug=f"c{secrets.token_hex(4)}", name=name,
                          description="", chain_id=secrets.randbelow(2**40) + 1, perks=dict(perks or {}), active=True,
                          created_at=now)
        s.add(coll)
        s.flush()
        crit = Criterion(id=uuid.uuid4(), collection_id=coll.id, key=uuid.uuid4(), version=1, kind=kind,
                         params=dict(params if params is not None else {"tier_key": "superfan", "months": 3}),
                         title="", current=True, created_at=now)
        s.add(crit)
        return coll.id, crit.id


def settle(p, rounds: int = 40):
    """Run the plugin's periodic work until nothing is pending (mints confirmed, burns done, index
    synced). The app's job worker may hold a token's job at the same time (a loaded machine):
    wait a little between rounds rather than fail."""
    import time

    from musicconnect_nft import minting

    for i in range(rounds):
        minting.tick(p)
        with p.read() as s:
            if not minting.pending_count(s):
                break
        time.sleep(min(0.05 * (i + 1), 0.5))
    minting.tick(p)  # a last sync of the index (it drops the cached entitlements it changed: no cache clearing here)


def mint(p, user_id, criterion_id, evidence=None):
    """Queue a token for the fan under the criterion and drive it to ``confirmed``; its token id."""
    from musicconnect_nft import minting
    from musicconnect_nft.models import Criterion, Token

    with p.session() as s:
        token = minting.queue_mint(p, s, user_id, s.get(Criterion, criterion_id), evidence or {"months": 3})
        assert token is not None
        row = token.id
    settle(p)
    with p.read() as s:
        t = s.get(Token, row)
        assert t.status == "confirmed", (t.status, t.last_error, t.revert_reason)
        return t.token_id


def token_row(p, token_id):
    from musicconnect_nft.models import Token

    with p.read() as s:
        t = s.scalar(select(Token).where(Token.token_id == token_id))
        s.expunge(t)
        return t
