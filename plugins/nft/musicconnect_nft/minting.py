"""Minting and burning: queue, sign, send, confirm — idempotent, retried, nonce-safe.

A token's life (``nft_tokens``):

1. **queued** — :func:`queue_mint` inserts the row (unique per fan × criterion × period × ``seq``,
   and skipped when the fan already holds a token of any version of the criterion) and enqueues
   the ``nft.mint`` job after commit. The token id is the row id's 128-bit integer, so the contract
   itself refuses a second mint of the same row ("already minted").
2. Before a nonce is spent the mint is simulated (``eth_call``); a revert there is recorded
   (``failed``, ``revert_reason``) without a transaction.
3. **signing** happens in ONE database transaction that claims the row (``raw_tx IS NULL``),
   reserves the minter's next nonce (``chain.reserve_nonce``: an atomic UPDATE), signs, and stores
   the signed transaction and its hash. Two workers can never sign the same row, never share a
   nonce, and never lose one (the nonce and the transaction are committed together).
4. **sent** — the stored raw transaction is broadcast; on an RPC error the job is retried and
   re-sends the *same* bytes (same hash), so a token can never be minted twice. A node that
   rejects a nonce gap (a later nonce arrived first from another worker) is waited for briefly.
5. **confirmed** once the receipt is ``confirmations`` deep (``tx_hash``, ``block_number``), or
   **failed** when the transaction reverted (the reason is recovered by replaying the call).

Burns (re-issue to a linked wallet, fraud, erasure) follow the same steps with ``burn_*`` columns;
the token becomes **burned**. The periodic ``nft.tick`` job confirms sent transactions, retries
what an outage left queued, finishes pending burns and syncs the holdings index.
"""
from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from musicconnect import JobSpec, emit
from musicconnect.models import User

from .chain import (RPC_ERRORS, Chain, ChainDown, get_chain, reserve_nonce, settings_of, sync_base_uri,
                    sync_holdings)
from .models import Collection, Criterion, Token, Wallet
from .perks import invalidate_tokens
from .status import forget_list, take_status_index
from .wallets import holder_address, record_link

log = logging.getLogger("musicconnect.nft.minting")

#: statuses after which the mint job has nothing left to do
FINAL = ("confirmed", "failed", "burned")


# ---------------------------------------------------------------- queueing

def user_tokens(session: Session, user_id: uuid.UUID) -> list[Token]:
    return list(session.scalars(select(Token).where(Token.user_id == user_id).order_by(Token.created_at)))


def holds_criterion(session: Session, user_id: uuid.UUID, criterion_key: uuid.UUID, period: str = "") -> bool:
    """The fan already has (or is getting) a token for some version of this criterion (and period)."""
    return session.scalar(select(Token.id).where(Token.user_key == str(user_id), Token.criterion_key == criterion_key,
                                                 Token.period == period).limit(1)) is not None


def period_of(criterion: Criterion, evidence: dict[str, Any]) -> str:
    """What a token is for besides its rule: the month of a rolling top-fan rule (one token a
    month), nothing for a once-only rule (a fixed month, a tier held for N months, a party…)."""
    if criterion.kind == "top_fan_month" and not (criterion.params or {}).get("month"):
        return str(evidence.get("month") or "")
    return ""


def link_wallet(platform, session: Session, user_id: uuid.UUID, address: str, proof: dict) -> list[Token]:
    """Record ``address`` (proven by a verified SIWE signature) as the fan's wallet and queue the
    re-issue (burn + re-mint) of the fan's live custodial tokens to it; returns the new token rows."""
    linked = record_link(platform, session, user_id, address, proof)
    return [] if linked is None else reissue(platform, session, user_id, linked)


def queue_mint(platform, session: Session, user_id: uuid.UUID, criterion: Criterion,
               evidence: dict[str, Any] | None = None) -> Token | None:
    """Queue one token for the fan under ``criterion`` (a version row); ``None`` when the fan
    already has one for this criterion (any version) and period — idempotent under concurrent
    evaluation (a unique constraint, not only this check)."""
    period = period_of(criterion, evidence or {})
    if holds_criterion(session, user_id, criterion.key, period):
        return None
    collection = session.get(Collection, criterion.collection_id)
    if collection is None or not collection.active:
        return None
    row_id = uuid.uuid4()
    token = Token(id=row_id, user_id=user_id, user_key=str(user_id), collection_id=collection.id,
                  artist_id=collection.artist_id, criterion_id=criterion.id, criterion_key=criterion.key,
                  criterion_version=criterion.version, period=period, seq=0, token_id=str(row_id.int),
                  owner_address=holder_address(platform, session, user_id), status="queued",
                  evidence=dict(evidence or {}), created_at=platform.clock.now(), attempts=0, last_error="")
    try:
        with session.begin_nested():
            session.add(token)
            session.flush()
    except IntegrityError:
        return None
    token.status_index = take_status_index(session)
    emit(platform, session, "nft.queued", actor_id=user_id, artist_id=collection.artist_id,
         subject=("nft_token", row_id), data={"collection_id": str(collection.id), "criterion_id": str(criterion.id),
                                              "criterion_version": criterion.version})
    platform.jobs.enqueue("nft.mint", session=session, subject=("nft_token", row_id), token=str(row_id))
    return token


def reissue(platform, session: Session, user_id: uuid.UUID, address: str) -> list[Token]:
    """Re-issue the fan's live tokens held elsewhere to ``address``: a token not yet signed is
    simply re-addressed; a confirmed one is burned (``relinked``) and minted again as ``seq + 1``."""
    new: list[Token] = []
    # the lock order of an erasure: the person's row (key share: the copies reference it), then
    # their tokens by id — so a re-issue and an erasure of the same fan never wait on each other
    session.execute(select(User.id).where(User.id == user_id).with_for_update(read=True, key_share=True))
    rows = list(session.scalars(select(Token).where(Token.user_id == user_id, Token.owner_address != address,
                                                    Token.status.in_(("queued", "confirmed")),
                                                    Token.burn_reason.is_(None))
                                .order_by(Token.id).with_for_update()))
    for tok in rows:
        if tok.status == "queued" and tok.raw_tx is None:
            tok.owner_address = address
            continue
        if tok.status != "confirmed":
            continue
        row_id = uuid.uuid4()
        copy = Token(id=row_id, user_id=user_id, user_key=tok.user_key, collection_id=tok.collection_id,
                     artist_id=tok.artist_id, criterion_id=tok.criterion_id, criterion_key=tok.criterion_key,
                     criterion_version=tok.criterion_version, period=tok.period, seq=tok.seq + 1,
                     token_id=str(row_id.int),
                     owner_address=address, status="queued", evidence=dict(tok.evidence or {}),
                     created_at=platform.clock.now(), attempts=0, last_error="")
        copy.status_index = take_status_index(session)
        session.add(copy)
        session.flush()
        request_burn(platform, session, tok, "relinked")
        tok.replaced_by = row_id
        platform.jobs.enqueue("nft.mint", session=session, subject=("nft_token", row_id), token=str(row_id))
        emit(platform, session, "nft.reissued", actor_id=user_id, artist_id=tok.artist_id,
             subject=("nft_token", row_id), data={"replaces": tok.token_id, "to": address})
        new.append(copy)
    return new


def request_burn(platform, session: Session, token: Token, reason: str) -> None:
    """Mark ``token`` for burning (``relinked``, ``fraud``, ``erased``, ``holder``) and enqueue it.
    A token that never reached the chain is simply closed."""
    if token.status == "burned" or token.burn_reason is not None:
        return
    token.burn_reason = reason
    forget_list(platform, session, token.status_index)  # its credential is revoked from now on
    session.flush()
    invalidate_tokens(platform, session, [token.token_id])  # and its perks end now, not when the burn is mined
    if token.status == "failed" or (token.status == "queued" and token.raw_tx is None):
        token.status = "burned"
        token.burned_at = platform.clock.now()
        return
    if token.status == "confirmed":
        platform.jobs.enqueue("nft.burn", session=session, subject=("nft_token", token.id), token=str(token.id))
    # sent: the tick job burns it once the mint is confirmed


# ---------------------------------------------------------------- sending

def _revert_reason(exc: BaseException) -> str:
    msg = str(exc.args[0] if getattr(exc, "args", None) else exc)
    for prefix in ("execution reverted: ", "execution reverted"):
        if msg.startswith(prefix):
            return msg[len(prefix):] or "reverted"
    return msg or type(exc).__name__


def _is_revert(exc: BaseException) -> bool:
    from eth_tester.exceptions import TransactionFailed
    from web3.exceptions import ContractLogicError

    return isinstance(exc, (ContractLogicError, TransactionFailed))


def _nonce_error(exc: BaseException) -> tuple[int, int] | None:
    """(expected, got) from a node's nonce complaint, when it is one."""
    import re

    m = re.search(r"[Nn]once.*?[Ee]xpected (\d+), but got (\d+)", str(exc))
    return (int(m.group(1)), int(m.group(2))) if m else None


def _known(chain: Chain, tx_hash: str) -> bool:
    from web3.exceptions import TransactionNotFound

    try:
        chain.w3.eth.get_transaction(tx_hash)
        return True
    except TransactionNotFound:
        return False


def _broadcast(chain: Chain, raw: bytes, tx_hash: str, *, patience: float = 5.0) -> str:
    """Send ``raw``; ``ok`` (sent or already known), ``stale`` (its nonce was used by another
    transaction: sign again). RPC errors propagate as :class:`ChainDown`."""
    deadline = time.monotonic() + patience
    while True:
        try:
            chain.w3.eth.send_raw_transaction(raw)
            if chain.embedded is not None and chain.embedded.hold_blocks:
                pass  # stays in the pool until the test mines
            return "ok"
        except RPC_ERRORS as exc:
            raise ChainDown(str(exc)) from exc
        except Exception as exc:  # the node refused it
            try:
                if _known(chain, tx_hash):
                    return "ok"  # a retry of a transaction that already went out
            except RPC_ERRORS as down:
                raise ChainDown(str(down)) from down
            nonce = _nonce_error(exc)
            if nonce is not None and nonce[1] > nonce[0] and time.monotonic() < deadline:
                time.sleep(0.05)  # a lower nonce from another worker is still on its way
                continue
            if nonce is not None and nonce[1] < nonce[0]:
                return "stale"
            text = str(exc).lower()
            if "already known" in text or "known transaction" in text:
                return "ok"
            if "nonce too low" in text:
                return "stale"
            raise ChainDown(f"transaction refused: {exc}") from exc


def _fees(chain: Chain) -> dict[str, int]:
    block = chain.w3.eth.get_block("latest")
    base = int(block.get("baseFeePerGas") or 0)
    if base:
        tip = 10**9
        return {"maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip}
    return {"gasPrice": int(chain.w3.eth.gas_price)}


def _claim_and_sign(platform, chain: Chain, cfg, token_id: uuid.UUID, fn, claim: tuple,
                    store) -> tuple[bytes, str] | None:
    """Build ``fn``'s transaction and, if this worker wins ``claim`` (conditions on the token row),
    reserve the minter's next nonce, sign and store it (``store(raw, hash, nonce)`` -> columns) in
    ONE database transaction: two workers never sign one token, never share or lose a nonce.
    ``(raw, hash)``, or ``None`` when another worker had claimed it."""
    tx = fn.build_transaction({"from": chain.minter, "nonce": 0, "gas": cfg.gas_limit,
                               "chainId": chain.chain_id, **_fees(chain)})
    pending = int(chain.w3.eth.get_transaction_count(chain.minter, "pending"))
    with platform.session() as s:
        if not s.execute(update(Token).where(Token.id == token_id, *claim)
                         .values(attempts=Token.attempts + 1)).rowcount:
            return None
        tx["nonce"] = reserve_nonce(s, chain.minter, chain.chain_id, pending)
        signed = chain.account.sign_transaction(tx)
        raw, tx_hash = bytes(signed.raw_transaction), "0x" + bytes(signed.hash).hex()
        s.execute(update(Token).where(Token.id == token_id).values(**store(raw, tx_hash, tx["nonce"])))
    return raw, tx_hash


def _record(platform, token_id: uuid.UUID, **values: Any) -> None:
    with platform.session() as s:
        s.execute(update(Token).where(Token.id == token_id).values(**values))


def mint_token(platform, token_id: uuid.UUID, *, chain: Chain | None = None, preflight: bool = True) -> str:
    """Bring one queued token as far as it can go now; returns its status. Raises
    :class:`ChainDown` when the node is unreachable (the job retries; nothing is lost)."""
    cfg = settings_of(platform)
    with platform.session() as s:
        tok = s.get(Token, token_id)
        if tok is None:
            return "missing"
        if tok.status in FINAL:
            return tok.status
        status, raw, tx_hash = tok.status, tok.raw_tx, tok.tx_hash
        owner, token_int = tok.owner_address, int(tok.token_id)
        collection_chain_id = s.scalar(select(Collection.chain_id).where(Collection.id == tok.collection_id))
    try:
        chain = chain or get_chain(platform)
        if raw is None:
            fn = chain.contract.functions.mint(owner, token_int, int(collection_chain_id))
            if preflight:
                try:
                    fn.call({"from": chain.minter})
                except RPC_ERRORS:
                    raise
                except Exception as exc:
                    if not _is_revert(exc):
                        raise
                    with platform.session() as s:  # unless another worker signed it meanwhile (then it is theirs)
                        won = s.execute(update(Token).where(Token.id == token_id, Token.raw_tx.is_(None),
                                                            Token.status == "queued").values(
                            status="failed", revert_reason=_revert_reason(exc), last_error="the mint would revert",
                            attempts=Token.attempts + 1)).rowcount
                    if won:
                        log.warning("nft: mint of token %s would revert: %s", token_id, _revert_reason(exc))
                        return "failed"
                    return mint_token(platform, token_id, chain=chain, preflight=False)
            signed = _claim_and_sign(platform, chain, cfg, token_id, fn,
                                     (Token.raw_tx.is_(None), Token.status == "queued"),
                                     lambda raw, h, n: {"raw_tx": raw, "tx_hash": h, "nonce": n, "sender": chain.minter})
            if signed is not None:
                raw, tx_hash = signed
            else:  # another worker signed it: carry on with theirs
                with platform.session() as s:
                    tok = s.get(Token, token_id)
                    if tok is None or tok.status in FINAL:
                        return tok.status if tok is not None else "missing"
                    status, raw, tx_hash = tok.status, tok.raw_tx, tok.tx_hash
                if raw is None:
                    return status
        # a sent transaction the node no longer knows (dropped from its pool, a node restarted
        # without its pool) is sent again as it is: same nonce, same hash, so later ones unblock
        resend = status == "sent" and raw is not None and not _known(chain, tx_hash)
        if status == "queued" or resend:
            outcome = _broadcast(chain, raw, tx_hash)
            if outcome == "stale":  # the nonce went to another transaction: sign again next time
                with platform.session() as s:  # this very transaction, not mined: nobody else moved on
                    s.execute(update(Token).where(Token.id == token_id, Token.status.in_(("queued", "sent")),
                                                  Token.tx_hash == tx_hash).values(
                        status="queued", raw_tx=None, tx_hash=None, nonce=None,
                        last_error="nonce taken by another transaction; re-signing"))
                raise ChainDown("stale nonce")
            with platform.session() as s:  # only from queued: another worker may have confirmed it already
                s.execute(update(Token).where(Token.id == token_id, Token.status == "queued").values(
                    status="sent", sent_at=platform.clock.now(), last_error=""))
        return confirm(platform, chain, token_id, wait=cfg.receipt_timeout_seconds)
    except (ChainDown, *RPC_ERRORS) as exc:
        _record(platform, token_id, last_error=str(exc)[:500])
        if isinstance(exc, ChainDown):
            raise
        raise ChainDown(str(exc)) from exc


def confirm(platform, chain: Chain, token_id: uuid.UUID, *, wait: float = 0.0) -> str:
    """Check a sent mint's receipt: confirmed, failed (with the revert reason) or still sent."""
    from web3.exceptions import TimeExhausted, TransactionNotFound

    cfg = settings_of(platform)
    with platform.session() as s:
        tok = s.get(Token, token_id)
        if tok is None or tok.status != "sent":
            return tok.status if tok is not None else "missing"
        tx_hash = tok.tx_hash
    try:
        if wait > 0:
            receipt = chain.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=wait, poll_latency=0.05)
        else:
            receipt = chain.w3.eth.get_transaction_receipt(tx_hash)
        head = int(chain.w3.eth.block_number)
    except (TransactionNotFound, TimeExhausted):
        return "sent"
    except RPC_ERRORS as exc:
        raise ChainDown(str(exc)) from exc
    if head - int(receipt["blockNumber"]) + 1 < cfg.confirmations:
        return "sent"
    if receipt["status"] == 1:
        with platform.session() as s:
            won = s.execute(update(Token).where(Token.id == token_id, Token.status == "sent").values(
                status="confirmed", block_number=int(receipt["blockNumber"]), confirmed_at=platform.clock.now(),
                raw_tx=None)).rowcount
            if not won:  # another worker confirmed it
                return "confirmed"
            tok = s.get(Token, token_id)
            emit(platform, s, "nft.minted", actor_id=tok.user_id, artist_id=tok.artist_id,
                 subject=("nft_token", tok.id), data={"token_id": tok.token_id, "tx_hash": tok.tx_hash,
                                                      "collection_id": str(tok.collection_id)})
            if tok.burn_reason is not None:  # erased or replaced while it was on its way
                platform.jobs.enqueue("nft.burn", session=s, subject=("nft_token", tok.id), token=str(tok.id))
        return "confirmed"
    reason = replay_reason(chain, tx_hash, int(receipt["blockNumber"]))
    with platform.session() as s:
        won = s.execute(update(Token).where(Token.id == token_id, Token.status == "sent").values(
            status="failed", block_number=int(receipt["blockNumber"]), revert_reason=reason, raw_tx=None)).rowcount
        if not won:
            return "failed"
        tok = s.get(Token, token_id)
        emit(platform, s, "nft.mint_failed", actor_id=tok.user_id, artist_id=tok.artist_id,
             subject=("nft_token", tok.id), data={"tx_hash": tok.tx_hash, "reason": reason})
    log.warning("nft: mint %s reverted on chain: %s", tx_hash, reason)
    return "failed"


def replay_reason(chain: Chain, tx_hash: str, block_number: int) -> str:
    """Why a mined transaction reverted: the same call replayed on the state before its block."""
    try:
        tx = chain.w3.eth.get_transaction(tx_hash)
        chain.w3.eth.call({"from": tx["from"], "to": tx["to"], "data": tx["input"], "gas": tx["gas"]},
                          max(block_number - 1, 0))
    except RPC_ERRORS:
        return "reverted (reason unavailable: node unreachable)"
    except Exception as exc:
        if _is_revert(exc):
            return _revert_reason(exc)
        return f"reverted ({type(exc).__name__})"
    return "reverted (out of gas or state changed within the block)"


def burn_token(platform, token_id: uuid.UUID, *, chain: Chain | None = None) -> str:
    """Burn a confirmed token marked by :func:`request_burn` (the platform acts as minter)."""
    from web3.exceptions import TimeExhausted, TransactionNotFound

    cfg = settings_of(platform)
    with platform.session() as s:
        tok = s.get(Token, token_id)
        if tok is None or tok.status != "confirmed" or tok.burn_reason is None:
            return tok.status if tok is not None else "missing"
        raw, tx_hash, token_int = tok.burn_raw_tx, tok.burn_tx_hash, int(tok.token_id)
    try:
        chain = chain or get_chain(platform)
        if raw is None:
            fn = chain.contract.functions.burn(token_int)
            try:
                fn.call({"from": chain.minter})
            except RPC_ERRORS:
                raise
            except Exception as exc:
                if not _is_revert(exc):
                    raise
                reason = _revert_reason(exc)
                if "no such token" in reason:  # burned already (by the holder or another worker): close it
                    with platform.session() as s:
                        s.execute(update(Token).where(Token.id == token_id, Token.status == "confirmed").values(
                            status="burned", burned_at=platform.clock.now()))
                    return "burned"
                _record(platform, token_id, last_error=f"burn would revert: {reason}")
                return "confirmed"
            signed = _claim_and_sign(platform, chain, cfg, token_id, fn,
                                     (Token.burn_raw_tx.is_(None), Token.status == "confirmed"),
                                     lambda raw, h, n: {"burn_raw_tx": raw, "burn_tx_hash": h, "burn_nonce": n})
            if signed is None:
                return "confirmed"
            raw, tx_hash = signed
        if _broadcast(chain, raw, tx_hash) == "stale":
            with platform.session() as s:  # only this very burn transaction, while the token stands
                s.execute(update(Token).where(Token.id == token_id, Token.status == "confirmed",
                                              Token.burn_tx_hash == tx_hash).values(
                    burn_raw_tx=None, burn_tx_hash=None, burn_nonce=None))
            raise ChainDown("stale nonce")
        try:
            receipt = chain.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=max(cfg.receipt_timeout_seconds, 0.5),
                                                                poll_latency=0.05)
        except (TransactionNotFound, TimeExhausted):
            return "confirmed"  # still on its way: the tick job looks again
        except RPC_ERRORS as exc:
            raise ChainDown(str(exc)) from exc
        if receipt["status"] == 1:
            with platform.session() as s:
                won = s.execute(update(Token).where(Token.id == token_id, Token.status == "confirmed").values(
                    status="burned", burned_at=platform.clock.now(), burn_raw_tx=None)).rowcount
                if not won:
                    return "burned"
                tok = s.get(Token, token_id)
                emit(platform, s, "nft.burned", actor_id=tok.user_id, artist_id=tok.artist_id,
                     subject=("nft_token", tok.id), data={"token_id": tok.token_id, "reason": tok.burn_reason,
                                                          "tx_hash": tx_hash})
            return "burned"
        reason = replay_reason(chain, tx_hash, int(receipt["blockNumber"]))
        _record(platform, token_id, burn_raw_tx=None, burn_tx_hash=None, burn_nonce=None,
                last_error=f"burn reverted: {reason}")
        return "confirmed"
    except (ChainDown, *RPC_ERRORS) as exc:
        _record(platform, token_id, last_error=str(exc)[:500])
        if isinstance(exc, ChainDown):
            raise
        raise ChainDown(str(exc)) from exc


# ---------------------------------------------------------------- jobs

def _mint_job(ctx, token: str):
    try:
        return {"status": mint_token(ctx.platform, uuid.UUID(token))}
    except ChainDown as exc:
        raise RuntimeError(f"nft chain unavailable: {exc}") from exc  # retried with back-off


def _burn_job(ctx, token: str):
    try:
        return {"status": burn_token(ctx.platform, uuid.UUID(token))}
    except ChainDown as exc:
        raise RuntimeError(f"nft chain unavailable: {exc}") from exc


def tick(platform, *, limit: int = 200) -> dict[str, int]:
    """Confirm sent mints, retry what an outage left queued, finish pending burns, re-issue to
    linked wallets, sync the holdings index. Every step is idempotent."""
    done = {"minted": 0, "burned": 0, "indexed": 0, "errors": 0}
    try:
        chain = get_chain(platform)
    except (ChainDown, *RPC_ERRORS):
        done["errors"] += 1
        return done
    with platform.session() as s:
        # signed ones first, lowest nonce first: a lower nonce the node lost must go out again
        # before the ones after it can be mined
        open_mints = list(s.scalars(select(Token.id).where(Token.status.in_(("queued", "sent")))
                                    .order_by(Token.nonce.is_(None), Token.nonce, Token.created_at).limit(limit)))
        burns = list(s.scalars(select(Token.id).where(Token.status == "confirmed", Token.burn_reason.is_not(None))
                               .limit(limit)))
    for tid in open_mints:
        try:
            if mint_token(platform, tid, chain=chain) == "confirmed":
                done["minted"] += 1
        except ChainDown:
            done["errors"] += 1
            break
        except Exception:  # one bad row must not stop the others
            log.exception("nft: minting token row %s failed", tid)
            done["errors"] += 1
    for tid in burns:
        try:
            if burn_token(platform, tid, chain=chain) == "burned":
                done["burned"] += 1
        except ChainDown:
            done["errors"] += 1
            break
        except Exception:
            log.exception("nft: burning token row %s failed", tid)
            done["errors"] += 1
    with platform.session() as s:  # tokens confirmed to a custodial address after the fan linked a wallet
        stale = s.execute(select(Token.user_id, Wallet.address).join(Wallet, Wallet.user_id == Token.user_id)
                          .where(Wallet.kind == "linked", Token.status == "confirmed", Token.burn_reason.is_(None),
                                 Token.owner_address != Wallet.address).limit(limit)).all()
        for user_id, address in {(u, a) for u, a in stale}:
            try:
                with s.begin_nested():  # a link or another tick re-issuing the same tokens first: theirs stands
                    reissue(platform, s, user_id, address)
            except IntegrityError:
                log.info("nft: tokens of %s were re-issued concurrently", user_id)
    try:
        done["indexed"] = sync_holdings(platform, chain)
        sync_base_uri(platform, chain)
    except ChainDown:
        done["errors"] += 1
    except Exception:  # e.g. a base URI longer than the contract's 200 characters
        log.exception("nft: the contract's base URI could not be updated")
        done["errors"] += 1
    return done


def _tick_job(ctx):
    return tick(ctx.platform)


def pending_count(session: Session) -> int:
    from sqlalchemy import func

    return session.scalar(select(func.count()).select_from(Token).where(
        or_(Token.status.in_(("queued", "sent")), (Token.status == "confirmed") & Token.burn_reason.is_not(None)))) or 0


JOBS = [
    JobSpec("mint", _mint_job, max_retries=8, min_backoff_ms=2000),
    JobSpec("burn", _burn_job, max_retries=8, min_backoff_ms=2000),
    JobSpec("tick", _tick_job, max_retries=0, every_seconds=60),
]
