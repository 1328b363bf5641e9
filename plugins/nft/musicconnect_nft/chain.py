"""The chain: the compiled contract, the web3 connection, the platform's deployment, the nonce
allocator and the holdings index.

* **Contract**: ``contract/ProofOfFandom.vy`` is compiled by the ``vyper`` package the first time it
  is needed and cached by the hash of its source and the compiler version (in memory and in
  ``<data_dir>/nft-build``), so a deployment always matches the source it was built from.
* **Connection**: ``rpc_url`` empty → an embedded in-process chain (eth-tester on py-evm) kept in
  ``<data_dir>/nft-chain.sqlite`` (it survives restarts; one process at a time holds it, so the
  distributed layout needs a real node). ``eth-tester://NAME`` → an embedded chain shared by
  every platform of this process that names it (tests that run two "workers" against one chain).
  Anything else → a JSON-RPC endpoint (``http(s)://``, ``ws(s)://``); ``chain_id`` is checked and
  the minter's key comes from ``MC_NFT_MINTER_KEY``.
* **One deployment per platform**: the contract holds every artist's collection (a token's
  ``collectionOf``); recorded in ``nft_deployments`` per (chain id, genesis hash) unless
  ``contract_address`` is configured.
* **Nonces**: :func:`allocate_nonce` hands out the minter's nonces from ``nft_nonces`` with one
  atomic ``UPDATE ... RETURNING`` inside the caller's transaction; the caller stores the signed
  transaction in the same transaction, so a nonce is never used twice nor lost (see ``minting``).
* **Holdings**: :func:`sync_holdings` reads the contract's ``Transfer`` events from the last
  indexed block into ``nft_holdings``; the access decision reads only that table.
* **Base URI**: when the platform's ``base_url`` changes, :func:`sync_base_uri` (run by the
  periodic tick) points the contract's ``tokenURI`` at the new address with ``setBaseURI``, which
  also logs EIP-4906 ``BatchMetadataUpdate`` so marketplaces refetch the metadata.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from musicconnect import Problem

from .models import Deployment, Holding, NonceSlot, SyncCursor

log = logging.getLogger("musicconnect.nft.chain")

SOURCE = Path(__file__).parent / "contract" / "ProofOfFandom.vy"
NAME = "MusicConnect Proof of Fandom"
SYMBOL = "FANDOM"

#: errors that mean "the node could not be reached / answered badly": retry later
try:  # web3 >= 7
    from web3.exceptions import ProviderConnectionError as _ProviderDown
except ImportError:  # pragma: no cover
    _ProviderDown = ConnectionError  # type: ignore[misc,assignment]


RPC_ERRORS: tuple[type[BaseException], ...] = (OSError, _ProviderDown)

_compiled: dict[str, dict[str, Any]] = {}
_compile_lock = threading.Lock()


def source_hash() -> str:
    import vyper

    return hashlib.sha256(SOURCE.read_bytes() + vyper.__version__.encode()).hexdigest()


def compiled(cache_dir: Path | None = None) -> dict[str, Any]:
    """``{"abi": [...], "bytecode": "0x..."}`` of the contract, compiled once per source hash."""
    digest = source_hash()
    with _compile_lock:
        if digest in _compiled:
            return _compiled[digest]
        path = cache_dir / f"{digest}.json" if cache_dir is not None else None
        if path is not None and path.exists():
            try:
                out = json.loads(path.read_text())
                _compiled[digest] = out
                return out
            except ValueError:
                pass
        import vyper

        out = vyper.compile_code(SOURCE.read_text(), output_formats=["abi", "bytecode"])
        out = {"abi": out["abi"], "bytecode": out["bytecode"]}
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps(out))
                tmp.replace(path)
            except OSError:  # a read-only data dir: the in-memory copy is enough
                log.warning("nft: could not cache the compiled contract in %s", path)
        _compiled[digest] = out
        return out


# ---------------------------------------------------------------- embedded chains

class _ChainFile:
    """py-evm's key-value store kept in a SQLite file (every key also in memory: reads never touch
    the disk), written through and committed after each request, so an embedded chain outlives
    its process. One process at a time: the file is locked while open."""

    def __init__(self, path: Path) -> None:
        import sqlite3

        from eth.db.backends.memory import MemoryDB

        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(path.with_name(path.name + ".lock"), "a+b")  # noqa: SIM115 (held while open)
        try:
            import fcntl

            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - not POSIX: no cross-process guard
            pass
        except OSError:
            self._lock_file.close()
            raise Problem(503, "nft-chain-unavailable",
                          f"the embedded chain {path} is open in another process; several processes (API and "
                          "workers) need a real node: set MC_NFT_RPC_URL") from None
        self.conn = sqlite3.connect(str(path), check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL)")
        self.conn.commit()
        self.memory = MemoryDB(dict(self.conn.execute("SELECT k, v FROM kv")))

    def wrap(self):
        """A py-evm database over this file (``eth.db.backends.base.BaseDB``)."""
        from eth.db.backends.base import BaseDB

        store = self

        class _DB(BaseDB):
            def __getitem__(self, key: bytes) -> bytes:
                return store.memory.kv_store[key]

            def __setitem__(self, key: bytes, value: bytes) -> None:
                store.memory.kv_store[key] = value
                store.conn.execute("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", (key, value))

            def __delitem__(self, key: bytes) -> None:
                del store.memory.kv_store[key]
                store.conn.execute("DELETE FROM kv WHERE k = ?", (key,))

            def _exists(self, key: bytes) -> bool:
                return key in store.memory.kv_store

        return _DB()

    def commit(self) -> None:
        if self.conn.in_transaction:
            self.conn.commit()

    def close(self) -> None:
        self.commit()
        self.conn.close()
        self._lock_file.close()  # and with it the lock


class _EmbeddedChain:
    """An eth-tester chain; py-evm is not thread-safe, so every request holds ``lock``. With a
    ``path`` its state lives in that file (the embedded default: it survives restarts)."""

    def __init__(self, path: Path | None = None) -> None:
        from eth_tester import EthereumTester, PyEVMBackend

        self.backend = PyEVMBackend()
        self.file: _ChainFile | None = None
        if path is not None:
            from eth.db.atomic import AtomicDB

            self.file = _ChainFile(path)
            db = self.file.wrap()
            if not self.file.memory.kv_store:  # a new file: the genesis the backend just built
                for key, value in self.backend.chain.chaindb.db.wrapped_db.kv_store.items():
                    db[key] = value
                self.file.commit()
            self.backend.chain = type(self.backend.chain)(AtomicDB(db))
        self.tester = EthereumTester(self.backend)
        self.lock = threading.RLock()
        #: fault injection for tests: while True every request raises ConnectionError (the RPC is down)
        self.down = False
        #: while True sent transactions wait in the pool until :meth:`mine` (a slow chain)
        self.hold_blocks = False

    def funded_key(self) -> bytes:
        return self.backend.account_keys[0].to_bytes()

    def mine(self, blocks: int = 1) -> None:
        with self.lock:
            self.tester.mine_blocks(blocks)
            self.commit()

    def commit(self) -> None:
        if self.file is not None:
            self.file.commit()


def _provider(embedded: _EmbeddedChain):
    from web3 import EthereumTesterProvider

    class LockedTesterProvider(EthereumTesterProvider):
        def make_request(self, method, params):
            if embedded.down:
                raise ConnectionError("nft test chain: RPC endpoint unreachable")
            with embedded.lock:
                try:
                    return super().make_request(method, params)
                finally:
                    embedded.commit()

    return LockedTesterProvider(embedded.tester)


_named: dict[str, _EmbeddedChain] = {}
_named_lock = threading.Lock()


def embedded_chain(name: str, path: Path | None = None) -> _EmbeddedChain:
    """The process's embedded chain called ``name`` (created on first use; kept in ``path`` if given)."""
    with _named_lock:
        if name not in _named:
            _named[name] = _EmbeddedChain(path)
        return _named[name]


def chain_file(platform) -> Path:
    """Where the embedded default chain of ``platform`` is kept."""
    return Path(platform.settings.data_dir).resolve() / "nft-chain.sqlite"


def register_state_files(platform):
    """The embedded default chain's file, for ``musicconnect backup`` (nothing with a node, a
    named test chain or before the chain was first used)."""
    if (settings_of(platform).rpc_url or "").strip():
        return None
    path = chain_file(platform)
    return [path.name] if path.is_file() else None


_file_users: dict[str, "weakref.WeakSet[Any]"] = {}


def embedded_of(platform) -> _EmbeddedChain | None:
    """The embedded chain ``platform`` uses (``None`` with a JSON-RPC endpoint)."""
    url = (settings_of(platform).rpc_url or "").strip()
    if url.startswith("eth-tester://"):
        return embedded_chain(url.removeprefix("eth-tester://"))
    if url:
        return None
    path = chain_file(platform)
    name = f"file:{path}"
    chain = embedded_chain(name, path)
    with _named_lock:
        _file_users.setdefault(name, weakref.WeakSet()).add(platform)
    return chain


def on_shutdown(platform) -> None:
    """Let go of the platform's connection, and of its chain file once no platform uses it."""
    forget(platform)
    with _named_lock:
        for name, users in list(_file_users.items()):
            users.discard(platform)
            if not users:
                del _file_users[name]
                embedded = _named.pop(name, None)
                if embedded is not None and embedded.file is not None:
                    with embedded.lock:
                        embedded.file.close()


# ---------------------------------------------------------------- the connection

@dataclass
class Chain:
    w3: Any
    chain_id: int
    account: Any  # eth_account LocalAccount: the minter
    abi: list
    bytecode: str
    embedded: _EmbeddedChain | None = None
    address: str | None = None
    contract: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: the contract's base URI was found equal to the platform's (checked once per connection)
    base_uri_ok: bool = False
    #: a setBaseURI sent and not mined yet
    base_uri_tx: Any = None

    @property
    def minter(self) -> str:
        return self.account.address

    def genesis_hash(self) -> str:
        return "0x" + bytes(self.w3.eth.get_block(0)["hash"]).hex()

    def bind(self, address: str) -> None:
        self.address = self.w3.to_checksum_address(address)
        self.contract = self.w3.eth.contract(address=self.address, abi=self.abi)


_chains: "weakref.WeakKeyDictionary[Any, Chain]" = weakref.WeakKeyDictionary()
_chains_lock = threading.Lock()


def settings_of(platform):
    return platform.plugin_settings("nft")


def connect(platform) -> Chain:
    """A new connection from the settings (no deployment yet)."""
    from eth_account import Account
    from web3 import Web3

    cfg = settings_of(platform)
    url = (cfg.rpc_url or "").strip()
    embedded = None
    if not url or url.startswith("eth-tester://"):
        embedded = embedded_of(platform)
        w3 = Web3(_provider(embedded))
    elif url.startswith(("ws://", "wss://")):  # pragma: no cover - needs a node
        w3 = Web3(Web3.LegacyWebSocketProvider(url))
    elif url.startswith(("http://", "https://")):  # pragma: no cover - needs a node
        w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 10}))
    else:
        raise Problem(503, "nft-chain-unavailable", f"unsupported rpc_url scheme: {url.split(':', 1)[0]}")
    key = cfg.minter_key.get_secret_value() if cfg.minter_key is not None else None
    if key is None:
        if embedded is None:
            raise Problem(503, "nft-chain-unavailable", "MC_NFT_MINTER_KEY is not set")
        key = embedded.funded_key()
    account = Account.from_key(key)
    try:
        chain_id = int(w3.eth.chain_id)
    except RPC_ERRORS as exc:
        raise ChainDown(str(exc)) from exc
    if cfg.chain_id and cfg.chain_id != chain_id:
        raise Problem(503, "nft-chain-unavailable", f"the node is on chain {chain_id}, settings say {cfg.chain_id}")
    build = compiled(Path(platform.settings.data_dir) / "nft-build")
    return Chain(w3=w3, chain_id=chain_id, account=account, abi=build["abi"], bytecode=build["bytecode"],
                 embedded=embedded)


class ChainDown(Exception):
    """The RPC endpoint is unreachable: the job retries later, nothing is lost."""


def get_chain(platform) -> Chain:
    """The platform's chain with its contract bound (deployed on first use)."""
    with _chains_lock:
        chain = _chains.get(platform)
    if chain is not None and chain.contract is not None:
        return chain
    chain = connect(platform)
    ensure_deployment(platform, chain)
    with _chains_lock:
        _chains[platform] = chain
    return chain


def forget(platform) -> None:
    """Drop the cached connection (tests; after a settings change)."""
    with _chains_lock:
        _chains.pop(platform, None)


def token_uri_base(platform) -> str:
    return platform.settings.base_url.rstrip("/") + "/api/v1/nft/tokens/"


def ensure_deployment(platform, chain: Chain) -> str:
    """Bind ``chain`` to the platform's contract, deploying it once per chain."""
    cfg = settings_of(platform)
    if cfg.contract_address:
        chain.bind(cfg.contract_address)
        return chain.address  # type: ignore[return-value]
    try:
        genesis = chain.genesis_hash()
    except RPC_ERRORS as exc:
        raise ChainDown(str(exc)) from exc
    with platform.session() as s:
        row = s.scalar(select(Deployment).where(Deployment.chain_id == chain.chain_id,
                                                Deployment.genesis_hash == genesis))
        if row is not None:
            try:
                code = chain.w3.eth.get_code(row.address)
            except RPC_ERRORS as exc:
                raise ChainDown(str(exc)) from exc
            if not code:  # e.g. the embedded chain's file was deleted, or a dev node was reset
                raise Problem(503, "nft-chain-unavailable",
                              f"the contract recorded for chain {chain.chain_id} ({row.address}) is not on it: the "
                              "chain was reset; restore its data (nft-chain.sqlite for the embedded chain)")
            chain.bind(row.address)
            return row.address
        other = s.scalar(select(Deployment.address).where(Deployment.chain_id == chain.chain_id).limit(1))
        if other is not None:  # the same chain id with another genesis block: a reset node or a new embedded file
            raise Problem(503, "nft-chain-unavailable",
                          f"the contract recorded for chain {chain.chain_id} ({other}) is on a chain with another "
                          "genesis block: the chain was reset; restore its data (nft-chain.sqlite for the embedded "
                          "chain) or point MC_NFT_RPC_URL at the node it was deployed on")
    with chain.lock:
        waiting = _pending_deploys.get((chain.chain_id, genesis))
        if waiting is not None:  # a deployment this process sent is still on its way: wait for it, do not send another
            return _finish_deployment(platform, chain, genesis, waiting)
        # deploy: the minter's nonce comes from the allocator like every other transaction
        contract = chain.w3.eth.contract(abi=chain.abi, bytecode=chain.bytecode)
        tx = contract.constructor(NAME, SYMBOL, token_uri_base(platform)).build_transaction(
            {"from": chain.minter, "nonce": 0, "chainId": chain.chain_id, "gas": 3_000_000})
        try:
            # sent inside the transaction that reserves the nonce: if the node is unreachable the
            # reservation rolls back, so a failed deployment leaves no nonce gap behind
            with platform.session() as s:
                tx["nonce"] = allocate_nonce(s, chain)
                signed = chain.account.sign_transaction(tx)
                tx_hash = chain.w3.eth.send_raw_transaction(signed.raw_transaction)
        except RPC_ERRORS as exc:
            raise ChainDown(str(exc)) from exc
        if chain.embedded is not None and chain.embedded.hold_blocks:
            chain.embedded.mine()
        _pending_deploys[(chain.chain_id, genesis)] = tx_hash
        return _finish_deployment(platform, chain, genesis, tx_hash)


#: deployments sent by this process and not mined yet, by (chain id, genesis hash)
_pending_deploys: dict[tuple[int, str], Any] = {}


def _finish_deployment(platform, chain: Chain, genesis: str, tx_hash) -> str:
    from web3.exceptions import TimeExhausted

    try:
        receipt = chain.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
    except TimeExhausted:
        raise ChainDown("the contract deployment is not mined yet") from None
    except RPC_ERRORS as exc:
        raise ChainDown(str(exc)) from exc
    _pending_deploys.pop((chain.chain_id, genesis), None)
    if receipt["status"] != 1:
        raise Problem(503, "nft-chain-unavailable", "the contract deployment reverted")
    address = receipt["contractAddress"]
    try:
        with platform.session() as s:
            s.add(Deployment(chain_id=chain.chain_id, genesis_hash=genesis, address=address,
                             source_hash=source_hash(), deployed_at=platform.clock.now(),
                             block_number=receipt["blockNumber"]))
    except IntegrityError:  # another worker deployed first: use theirs
        with platform.session() as s:
            address = s.scalar(select(Deployment.address).where(Deployment.chain_id == chain.chain_id,
                                                                Deployment.genesis_hash == genesis))
    chain.bind(address)
    return address


def sync_base_uri(platform, chain: Chain) -> bool:
    """Make the contract's base URI the platform's (``setBaseURI`` by the admin key, its nonce from
    the allocator); ``True`` once they agree. A contract whose admin is another key (configured
    ``contract_address``) is left alone, with a warning. RPC errors raise :class:`ChainDown`."""
    from web3.exceptions import TimeExhausted

    if chain.base_uri_ok:
        return True
    want = token_uri_base(platform)
    if len(want.encode()) > 200:
        log.error("nft: base_url is too long for the contract's base URI (200 bytes): %r", want)
        chain.base_uri_ok = True
        return False
    try:
        have = chain.contract.functions.baseURI().call()
        if have == want:
            chain.base_uri_ok = True
            return True
        admin = chain.contract.functions.admin().call()
        if admin != chain.minter:
            log.warning("nft: the contract's base URI is %r, the platform's %r, and the minter key is not its "
                        "admin: tokenURI points at the old address until its admin calls setBaseURI", have, want)
            chain.base_uri_ok = True  # nothing this process can do
            return False
        with chain.lock:
            tx_hash = chain.base_uri_tx  # sent by an earlier tick and not mined then: wait, do not send again
            if tx_hash is None:
                tx = chain.contract.functions.setBaseURI(want).build_transaction(
                    {"from": chain.minter, "nonce": 0, "chainId": chain.chain_id, "gas": 200_000})
                with platform.session() as s:  # a broadcast that fails rolls the nonce back (no gap)
                    tx["nonce"] = allocate_nonce(s, chain)
                    signed = chain.account.sign_transaction(tx)
                    tx_hash = chain.w3.eth.send_raw_transaction(signed.raw_transaction)
                chain.base_uri_tx = tx_hash
            if chain.embedded is not None and chain.embedded.hold_blocks:
                chain.embedded.mine()
            try:
                receipt = chain.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
            except TimeExhausted:
                raise ChainDown("setBaseURI is not mined yet") from None
            chain.base_uri_tx = None
    except RPC_ERRORS as exc:
        raise ChainDown(str(exc)) from exc
    if receipt["status"] != 1:  # not retried (it would spend gas each tick): fixed by a restart
        log.error("nft: setBaseURI(%r) reverted in %s", want, "0x" + bytes(tx_hash).hex())
        chain.base_uri_ok = True
        return False
    log.info("nft: the contract's base URI moved from %r to %r", have, want)
    chain.base_uri_ok = True
    return True


# ---------------------------------------------------------------- nonces

def allocate_nonce(session: Session, chain: Chain) -> int:
    """The minter's next nonce, reserved in ``session``'s transaction (row-locked on PostgreSQL,
    the write lock on SQLite, until that transaction ends). The chain's pending count is read
    first so a key also used elsewhere (or a fresh database) starts from the node's view."""
    try:
        pending = int(chain.w3.eth.get_transaction_count(chain.minter, "pending"))
    except RPC_ERRORS as exc:
        raise ChainDown(str(exc)) from exc
    return reserve_nonce(session, chain.minter, chain.chain_id, pending)


def reserve_nonce(session: Session, address: str, chain_id: int, pending: int) -> int:
    """Atomically take the next nonce of ``address`` (at least ``pending``)."""
    stmt = text("UPDATE nft_nonces SET next_nonce = CASE WHEN next_nonce >= :p THEN next_nonce + 1 ELSE :p + 1 END "
                "WHERE address = :a RETURNING next_nonce")
    got = session.execute(stmt, {"p": pending, "a": address}).scalar()
    if got is None:
        try:
            with session.begin_nested():
                session.add(NonceSlot(address=address, chain_id=chain_id, next_nonce=pending + 1))
                session.flush()
            return pending
        except IntegrityError:  # another worker created the row first
            got = session.execute(stmt, {"p": pending, "a": address}).scalar()
    return int(got) - 1


# ---------------------------------------------------------------- the holdings index

def sync_holdings(platform, chain: Chain | None = None, *, max_blocks: int = 5000) -> int:
    """Read ``Transfer`` events since the last indexed block into ``nft_holdings``; returns how
    many events were applied. Safe to run from several workers (the cursor row is updated in
    the same transaction, upserts are idempotent)."""
    try:
        chain = chain or get_chain(platform)
        head = int(chain.w3.eth.block_number)
    except RPC_ERRORS as exc:
        raise ChainDown(str(exc)) from exc
    with platform.session() as s:
        cursor = s.get(SyncCursor, chain.address)
        start = (cursor.last_block + 1) if cursor is not None else 0
        if start > head:
            return 0
        end = min(head, start + max_blocks - 1)
        try:
            transfers = chain.contract.events.Transfer().get_logs(from_block=start, to_block=end)
            minted = chain.contract.events.Minted().get_logs(from_block=start, to_block=end)
        except RPC_ERRORS as exc:
            raise ChainDown(str(exc)) from exc
        collections = {int(e["args"]["token_id"]): int(e["args"]["collection"]) for e in minted}
        now = platform.clock.now()
        changed: list[str] = []
        for ev in sorted(transfers, key=lambda e: (e["blockNumber"], e["logIndex"])):
            token_id = str(int(ev["args"]["token_id"]))
            receiver = ev["args"]["receiver"]
            row = s.get(Holding, token_id)
            zero = int(receiver, 16) == 0
            changed.append(token_id)
            if row is None:
                if zero:
                    continue
                s.add(Holding(token_id=token_id, owner_address=receiver,
                              collection_chain_id=collections.get(int(token_id), 0), burned=False,
                              block_number=ev["blockNumber"], since=now, updated_at=now))
                s.flush()
            elif ev["blockNumber"] >= row.block_number:
                row.burned = zero
                if not zero:
                    row.owner_address = receiver
                row.block_number = ev["blockNumber"]
                row.updated_at = now
        if cursor is None:
            s.add(SyncCursor(address=chain.address, last_block=end))
        else:
            cursor.last_block = end
        if changed:
            _invalidate_holdings(platform, s, changed)
        return len(transfers)


def _invalidate_holdings(platform, session: Session, token_ids: list[str]) -> None:
    """Cached access contexts of the fans behind these tokens go stale at commit (``perks``)."""
    try:
        from .perks import invalidate_tokens
    except ImportError:  # pragma: no cover - perks not installed
        return
    invalidate_tokens(platform, session, token_ids)
