"""Fans' wallets.

* **Custodial** (the default: no wallet, no friction): the platform makes a key pair for the fan on
  first need. The private key is stored encrypted (AES-256-GCM) under a key derived from the
  platform's signing key (``platform.settings.signing_key()``, HMAC-SHA256 with a purpose label),
  the fan's id and address bound as associated data, so a key copied to another row does not
  decrypt. Tokens are minted to this address; the platform never needs the key to mint (the
  minter role does), only to let the fan take the key out one day or burn as holder.
* **Linked**: the fan proves an address by signing a Sign-In with Ethereum message (``siwe``,
  verified there); `minting.link_wallet` records it and re-issues the fan's custodial tokens to it:
  soulbound tokens cannot move, so each one is burned (reason ``relinked``) and minted again to
  the linked address (a new token row with ``seq + 1``; the old row keeps ``replaced_by``).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from musicconnect import Conflict, Problem

from .models import Wallet

_PURPOSE = b"musicconnect-nft/custodial-wallet-keys/v1"


def _kek(platform) -> bytes:
    return hmac.new(platform.settings.signing_key(), _PURPOSE, hashlib.sha256).digest()


def _aad(user_id: uuid.UUID, address: str) -> bytes:
    return f"{user_id}:{address.lower()}".encode()


def encrypt_key(platform, user_id: uuid.UUID, address: str, private_key: bytes) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    return b"\x01" + nonce + AESGCM(_kek(platform)).encrypt(nonce, private_key, _aad(user_id, address))


def decrypt_key(platform, wallet: Wallet) -> bytes:
    """The custodial wallet's private key (raises on a tampered row or a foreign signing key)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    blob = wallet.encrypted_key
    if not blob or blob[:1] != b"\x01" or wallet.user_id is None:
        raise Problem(409, "nft-wallet-no-key", "this wallet has no key held by the platform")
    return AESGCM(_kek(platform)).decrypt(blob[1:13], blob[13:], _aad(wallet.user_id, wallet.address))


def custodial_wallet(platform, session: Session, user_id: uuid.UUID) -> Wallet:
    """The fan's custodial wallet, created on first use (idempotent under concurrency)."""
    found = session.scalar(select(Wallet).where(Wallet.user_id == user_id, Wallet.kind == "custodial"))
    if found is not None:
        return found
    from eth_account import Account

    acct = Account.create()
    wallet = Wallet(user_id=user_id, kind="custodial", address=acct.address,
                    encrypted_key=encrypt_key(platform, user_id, acct.address, bytes(acct.key)),
                    created_at=platform.clock.now(), proof={})
    try:
        with session.begin_nested():
            session.add(wallet)
            session.flush()
    except IntegrityError:
        found = session.scalar(select(Wallet).where(Wallet.user_id == user_id, Wallet.kind == "custodial"))
        if found is None:
            raise
        return found
    return wallet


def linked_wallet(session: Session, user_id: uuid.UUID) -> Wallet | None:
    return session.scalar(select(Wallet).where(Wallet.user_id == user_id, Wallet.kind == "linked"))


def holder_address(platform, session: Session, user_id: uuid.UUID) -> str:
    """Where the fan's new tokens go: the linked wallet if any, else the custodial one."""
    linked = linked_wallet(session, user_id)
    if linked is not None:
        return linked.address
    return custodial_wallet(platform, session, user_id).address


def holders_of(session: Session, user_id: uuid.UUID) -> list[str]:
    """Every address of the fan (custodial and linked)."""
    return list(session.scalars(select(Wallet.address).where(Wallet.user_id == user_id)))


def record_link(platform, session: Session, user_id: uuid.UUID, address: str, proof: dict) -> str | None:
    """Record ``address`` (already proven by a verified SIWE signature) as the fan's wallet.
    Returns the checksummed address when it is new for the fan (its tokens are then re-issued:
    :func:`musicconnect_nft.minting.link_wallet`), ``None`` when it was linked already."""
    from web3 import Web3

    address = Web3.to_checksum_address(address)
    owner = session.scalar(select(Wallet).where(Wallet.address == address))
    if owner is not None and owner.user_id != user_id:
        raise Conflict("nft-wallet-taken", "this address is linked to another account")
    current = linked_wallet(session, user_id)
    now = platform.clock.now()
    if current is not None and current.address == address:
        current.proof = proof
        return None
    if current is not None:
        current.address = address
        current.proof = proof
        current.created_at = now
    else:
        session.add(Wallet(user_id=user_id, kind="linked", address=address, encrypted_key=None,
                           created_at=now, proof=proof))
    session.flush()
    return address
