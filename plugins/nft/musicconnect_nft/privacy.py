"""A fan's data: export (GDPR Art. 15/20) and erasure (Art. 17).

Erasure, in the same transaction as every other plugin's part: each live token is marked for
burning (reason ``erased``; the platform burns it as minter after the commit, or closes it when
it never reached the chain), its ``evidence`` (the facts that earned it) is emptied and the row
is detached from the person (``user_id`` NULL, ``user_key`` replaced), so the metadata served for
the token id no longer names anyone; wallets are deleted, which destroys the custodial key.
What stays on the chain is a burn of an address that is no longer linked to anyone here.

An artist's erasure (before the core deletes the artist): their collections are retired and
anonymised and every live token in them is marked for burning (``artist_erased``); the rows stay
(``artist_id`` NULL once the artist row is gone), so revoked credentials stay revoked in the
status lists and a signed-but-unsent transaction keeps its nonce.
"""
from __future__ import annotations

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from musicconnect import ErasureReport, ExportPart, Retained
from musicconnect.models import Artist

from .models import Collection, Criterion, LinkChallenge, Token, Wallet


def export(platform, session: Session, user) -> ExportPart | None:
    tokens = list(session.scalars(select(Token).where(Token.user_id == user.id).order_by(Token.created_at)))
    wallets = list(session.scalars(select(Wallet).where(Wallet.user_id == user.id)))
    if not tokens and not wallets:
        return None
    return ExportPart(
        records={
            "nft_tokens": [{"token_id": t.token_id, "collection_id": str(t.collection_id),
                            "criterion_version": t.criterion_version, "status": t.status,
                            "owner_address": t.owner_address, "tx_hash": t.tx_hash, "evidence": t.evidence,
                            "created_at": t.created_at.isoformat(),
                            "burned_at": t.burned_at.isoformat() if t.burned_at else None,
                            "burn_reason": t.burn_reason} for t in tokens],
            "nft_wallets": [{"kind": w.kind, "address": w.address, "created_at": w.created_at.isoformat()}
                            for w in wallets],
        },
        notes="Proof-of-Fandom tokens issued to you and the wallet addresses they were sent to. "
              "The custodial wallet's private key is not exported here; it is held encrypted by the platform.")


def erase(platform, session: Session, user) -> ErasureReport:
    from .minting import request_burn

    artist_id = session.scalar(select(Artist.id).where(Artist.user_id == user.id))
    _lock_tokens(session, user.id, artist_id)
    tokens = list(session.scalars(select(Token).where(Token.user_id == user.id)))
    burned = 0
    for tok in tokens:
        if tok.status != "burned" and tok.burn_reason is None:
            request_burn(platform, session, tok, "erased")
            burned += 1
        tok.evidence = {}
        tok.user_id = None
        tok.user_key = f"erased:{tok.id}"
    wallets = session.execute(delete(Wallet).where(Wallet.user_id == user.id)).rowcount or 0
    session.execute(delete(LinkChallenge).where(LinkChallenge.user_id == user.id))
    collections, fans_burned = 0, 0
    if artist_id is not None:
        for coll in session.scalars(select(Collection).where(Collection.artist_id == artist_id)):
            coll.active, coll.name, coll.description, coll.perks = False, "Retired collection", "", {}
            collections += 1
            session.execute(update(Criterion).where(Criterion.collection_id == coll.id).values(title="", current=False))
            for tok in session.scalars(select(Token).where(Token.collection_id == coll.id)):
                if tok.status != "burned" and tok.burn_reason is None:
                    request_burn(platform, session, tok, "artist_erased")
                    fans_burned += 1
    erased = {"nft_tokens_anonymised": len(tokens), "nft_tokens_burned": burned, "nft_wallets": wallets}
    if collections:
        erased.update(nft_collections_retired=collections, nft_fan_tokens_burned=fans_burned)
    return ErasureReport(
        erased=erased,
        retained=(Retained("nft_tokens", "the token ids and their burn transactions are public on the chain; "
                           "the rows are kept, detached from the person, so the platform never re-mints them",
                           count=len(tokens)),) if tokens else ())


def _lock_tokens(session: Session, user_id, artist_id) -> None:
    """Lock every token row this erasure touches — and the core's delete of the artist, whose
    ``ON DELETE SET NULL`` updates them later in the transaction — in one order, before touching
    any: a mint or burn job holding one of them finishes first, instead of the two waiting on
    each other (a deadlock PostgreSQL breaks by failing the erasure)."""
    who = Token.user_id == user_id
    if artist_id is not None:
        who = or_(who, Token.artist_id == artist_id,
                  Token.collection_id.in_(select(Collection.id).where(Collection.artist_id == artist_id)))
    session.execute(select(Token.id).where(who).order_by(Token.id).with_for_update())


# the hooks (delegated by plugin.py)
def export_user_data(platform, session, user):
    return export(platform, session, user)


def erase_user_data(platform, session, user):
    return erase(platform, session, user)
