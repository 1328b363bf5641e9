"""A fan's data: export (GDPR Art. 15/20) and erasure (Art. 17).

Erasure, in the same transaction as every other plugin's part: each live token is marked for
burning (reason ``erased``; the platform burns it as minter after the commit, or closes it when
it never reached the chain), its ``evidence`` (the facts that earned it) is emptied and the row
is detached from the person (``user_id`` NULL, ``user_key`` replaced), so the metadata served for
the token id no longer names anyone; wallets are deleted, which destroys the custodial key.
What stays on the chain is a burn of an address that is no longer linked to anyone here.
"""
from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from musicconnect import ErasureReport, ExportPart, Retained

from .models import LinkChallenge, Token, Wallet


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
    return ErasureReport(
        erased={"nft_tokens_anonymised": len(tokens), "nft_tokens_burned": burned, "nft_wallets": wallets},
        retained=(Retained("nft_tokens", "the token ids and their burn transactions are public on the chain; "
                           "the rows are kept, detached from the person, so the platform never re-mints them",
                           count=len(tokens)),) if tokens else ())


# the hooks (delegated by plugin.py)
def export_user_data(platform, session, user):
    return export(platform, session, user)


def erase_user_data(platform, session, user):
    return erase(platform, session, user)
