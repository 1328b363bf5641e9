"""Settings of the nft plugin (``MC_NFT_<FIELD>``, ``musicconnect plugins config nft ...``).

With ``rpc_url`` empty the plugin runs an embedded in-process chain (eth-tester on py-evm) kept in
``<data_dir>/nft-chain.sqlite`` (one process at a time; a private chain). In production set ``rpc_url``
(any JSON-RPC endpoint), ``chain_id`` (checked against the node) and ``minter_key`` (environment
only: ``MC_NFT_MINTER_KEY``)."""
from __future__ import annotations

from pydantic import Field, SecretStr

from musicconnect import PluginSettings


class NftSettings(PluginSettings):
    rpc_url: str = Field(default="", description="JSON-RPC endpoint; empty: embedded eth-tester chain (tests, demo)")
    chain_id: int = Field(default=0, ge=0, description="expected chain id; 0: whatever the node reports")
    minter_key: SecretStr | None = Field(default=None, description="hex private key of the minter role (environment only)")
    contract_address: str = Field(default="", description="deployed contract; empty: deploy on first use and remember it")
    confirmations: int = Field(default=1, ge=1, le=64, description="blocks before a mint counts as confirmed")
    gas_limit: int = Field(default=300_000, ge=50_000, le=10_000_000, description="gas limit of mint and burn transactions")
    receipt_timeout_seconds: float = Field(default=0.0, ge=0, le=600,
                                           description="wait this long for a receipt in the mint job (0: check later)")


SETTINGS = [NftSettings]
