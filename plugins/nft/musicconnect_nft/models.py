"""Tables of the nft plugin (first migration: ``nft_0001``). Names are listed for other modules in
``plugins/nft/MODELS.md``.

* :class:`Collection` — an artist's collection of soulbound tokens (one on-chain collection id in
  the platform's single contract).
* :class:`Criterion` — one *version* of a rule that earns a token; editing a rule writes a new row
  with the same ``key`` and ``version + 1`` and marks the old one not ``current``; tokens keep the
  version they were minted under (no retroactive burns).
* :class:`Wallet` — a fan's addresses: one ``custodial`` (key encrypted at rest, see ``wallets``)
  and at most one ``linked`` (proven by a Sign-In with Ethereum signature, no key held).
* :class:`Token` — one issue of a token to a fan: queued → sent → confirmed | failed, later
  burned. Unique per (fan, criterion key — all its versions —, ``period``, ``seq``): ``period`` is
  empty for a once-only rule and the month for a rolling "top fan of the month" (one token per
  month); ``seq`` 0 is the first issue, a re-issue to a linked wallet (burn + re-mint) is ``seq + 1``.
* :class:`Holding` — the index of who holds what, kept in sync from the contract's events; the
  access decision reads it (and only it), never the chain.
* :class:`NonceSlot` — the next nonce of each sending address, allocated atomically in the
  database so several workers never sign two transactions with one nonce.
* :class:`Deployment` — the contract deployed on a chain (chain id, genesis hash, address,
  source hash).
* :class:`SyncCursor` — the last block whose events reached :class:`Holding`.
* :class:`LinkChallenge` — SIWE nonces issued to fans who link a wallet (single use).
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from musicconnect import Base, uuid_pk
from musicconnect.db import JSONType

#: token lifecycle
TOKEN_STATUSES = ("queued", "sent", "confirmed", "failed", "burned")
#: kinds of criteria an artist can configure (see ``criteria``)
CRITERION_KINDS = ("tier_months", "top_fan_month", "attended_party", "first_supporters")


class Collection(Base):
    """An artist's collection; ``chain_id`` is the collection's number in the contract."""

    __tablename__ = "nft_collections"
    __table_args__ = (UniqueConstraint("artist_id", "slug", name="uq_nft_collections_artist_slug"),)
    id: Mapped[uuid.UUID] = uuid_pk()
    #: NULL once the artist was erased: the collection stays (inactive, anonymised) because its
    #: tokens, their revocation bits and their nonces must outlive the artist
    artist_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("artists.id", ondelete="SET NULL"), nullable=True,
                                                        index=True)
    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    #: collection number in the platform's contract (uint64), unique across the platform
    chain_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    #: perks a holder unlocks, e.g. {"backstage_days": 30, "discount_percent": 10}
    perks: Mapped[dict] = mapped_column(JSONType, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column()


class Criterion(Base):
    """One version of a rule; ``key`` names the rule across its versions."""

    __tablename__ = "nft_criteria"
    __table_args__ = (UniqueConstraint("key", "version", name="uq_nft_criteria_key_version"),
                      Index("ix_nft_criteria_current", "collection_id", "current"))
    id: Mapped[uuid.UUID] = uuid_pk()
    collection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("nft_collections.id", ondelete="CASCADE"))
    key: Mapped[uuid.UUID] = mapped_column(index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    #: one of CRITERION_KINDS
    kind: Mapped[str] = mapped_column(String(32))
    #: kind parameters, e.g. {"tier_rank": 2, "months": 3} or {"limit": 100}
    params: Mapped[dict] = mapped_column(JSONType, default=dict)
    title: Mapped[str] = mapped_column(String(160), default="")
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column()
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)


class Wallet(Base):
    """A fan's address: ``custodial`` (``encrypted_key`` set) or ``linked`` (proven by a signature)."""

    __tablename__ = "nft_wallets"
    __table_args__ = (UniqueConstraint("user_id", "kind", name="uq_nft_wallets_user_kind"),)
    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True,
                                                      index=True)
    kind: Mapped[str] = mapped_column(String(16))  # custodial | linked
    #: checksummed 0x address
    address: Mapped[str] = mapped_column(String(42), unique=True)
    #: custodial only: the private key, AES-GCM under a key derived from the platform's signing key
    encrypted_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column()
    #: linked only: the SIWE message and signature that proved it
    proof: Mapped[dict] = mapped_column(JSONType, default=dict)


class Token(Base):
    """One issue of a token to a fan, from queued to confirmed (or failed) and maybe burned."""

    __tablename__ = "nft_tokens"
    __table_args__ = (UniqueConstraint("user_key", "criterion_key", "period", "seq", name="uq_nft_tokens_fan_criterion_seq"),
                      Index("ix_nft_tokens_status", "status"))
    id: Mapped[uuid.UUID] = uuid_pk()
    #: the fan; NULL once erased (``user_key`` keeps the uniqueness)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True,
                                                      index=True)
    #: the fan's id as text, kept after erasure so the (fan, criterion version) stays unique
    user_key: Mapped[str] = mapped_column(String(64))
    collection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("nft_collections.id", ondelete="CASCADE"), index=True)
    artist_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("artists.id", ondelete="SET NULL"), nullable=True,
                                                        index=True)
    criterion_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("nft_criteria.id", ondelete="CASCADE"))
    criterion_key: Mapped[uuid.UUID] = mapped_column(index=True)
    criterion_version: Mapped[int] = mapped_column(Integer)
    #: "" for a once-only rule; the month ("2026-05") a rolling top-fan token is for
    period: Mapped[str] = mapped_column(String(16), default="")
    seq: Mapped[int] = mapped_column(Integer, default=0)
    #: its bit in the credentials' revocation status lists (list ``index // 131072 + 1``)
    status_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True, unique=True)
    #: uint256 token id as decimal text (the row id's 128-bit integer)
    token_id: Mapped[str] = mapped_column(String(80), unique=True)
    owner_address: Mapped[str] = mapped_column(String(42), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    #: facts that earned it (shown in metadata and the credential), server-side only
    evidence: Mapped[dict] = mapped_column(JSONType, default=dict)
    sender: Mapped[str | None] = mapped_column(String(42), nullable=True)
    nonce: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: the signed transaction, kept so a retry re-sends the very same transaction (same hash)
    raw_tx: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True, index=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    revert_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    burned_at: Mapped[datetime | None] = mapped_column(nullable=True)
    burn_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)  # relinked | fraud | erased | holder
    burn_tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    #: the signed burn transaction and its nonce (re-sent as it is on a retry)
    burn_raw_tx: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    burn_nonce: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: the re-issue that replaced this token (burn + re-mint to a linked wallet)
    replaced_by: Mapped[uuid.UUID | None] = mapped_column(nullable=True)


class Holding(Base):
    """Who holds a token now, as the chain's events say (``Transfer`` mint/burn); read by access."""

    __tablename__ = "nft_holdings"
    __table_args__ = (Index("ix_nft_holdings_owner", "owner_address", "burned"),)
    token_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    owner_address: Mapped[str] = mapped_column(String(42))
    collection_chain_id: Mapped[int] = mapped_column(BigInteger, index=True)
    burned: Mapped[bool] = mapped_column(Boolean, default=False)
    block_number: Mapped[int] = mapped_column(BigInteger)
    since: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()


class NonceSlot(Base):
    """The next nonce of a sending address (allocated with one atomic UPDATE)."""

    __tablename__ = "nft_nonces"
    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    next_nonce: Mapped[int] = mapped_column(BigInteger)


class Deployment(Base):
    """The platform's contract on a chain."""

    __tablename__ = "nft_deployments"
    __table_args__ = (UniqueConstraint("chain_id", "genesis_hash", name="uq_nft_deployments_chain"),)
    id: Mapped[uuid.UUID] = uuid_pk()
    chain_id: Mapped[int] = mapped_column(BigInteger)
    genesis_hash: Mapped[str] = mapped_column(String(66))
    address: Mapped[str] = mapped_column(String(42))
    source_hash: Mapped[str] = mapped_column(String(64))
    deployed_at: Mapped[datetime] = mapped_column()
    block_number: Mapped[int] = mapped_column(BigInteger, default=0)


class Counter(Base):
    """A named sequence taken with one atomic UPDATE (``status_index``: positions in the
    credentials' revocation status lists)."""

    __tablename__ = "nft_counters"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    next_value: Mapped[int] = mapped_column(BigInteger)


class SyncCursor(Base):
    """The last block whose contract events reached the holdings index."""

    __tablename__ = "nft_sync"
    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    last_block: Mapped[int] = mapped_column(BigInteger, default=-1)


class LinkChallenge(Base):
    """A single-use Sign-In with Ethereum nonce issued to a fan who links a wallet."""

    __tablename__ = "nft_link_challenges"
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    issued_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)
