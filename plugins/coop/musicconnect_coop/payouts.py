"""Co-op money in motion (docs/coop.md, "Bundles and payouts"): the split of what a co-op's
account is paid, the ledger, transfers to the members and their reversals.

* ``distribute_net`` (core hook, after the fees): the co-op account's net is split among the
  members by the split rule in force when the payment happened (fan-centric: by the paying
  fan's counted plays of the members in the invoice period); each member's share is a
  ``RevenueShare`` with ``payee_artist_id`` (a preview shows the payees, so billing charges on
  the platform and the co-op moves the money).
* ``on_payment_event``: ``payment.succeeded`` of a co-op account -> the ledger's payment (fee =
  every non-payee share, member shares = the payee shares of the event), then a ``coop.payout``
  job; ``payment.refunded`` / ``payment.disputed`` -> the ledger's clawback, then the job reverses
  what was already transferred of the clawed-back parts; ``payment.dispute_won`` -> the money
  is back: the ledger records the dispute's clawbacks as a new payment (``<payment_ref>#won:<id>``)
  and the job pays them out again.
* ``payout``: per payment and member, what is owed (share - clawbacks) against what was moved
  (transfers - reversals); the difference is transferred or reversed with idempotency keys
  derived from the payment, the member and the count so far, so a retried or concurrent job
  moves money once. ``409 payout-account-missing``: the share stays owed (the member's balance)
  and the periodic ``payout_sweep`` tries again.
"""
from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from musicconnect import JobSpec, Problem, RevenueShare

from . import ledger, splits
from .bundle_models import Payout
from .governance import split_rule_at, voting_ids
from .ledger_models import LedgerEntry, LedgerPayment
from .models import Coop

log = logging.getLogger("musicconnect.coop.payouts")
PARTY = "coop"
REASON = "co-op member share"
WON = "#won:"


def _coop_of(session, artist_id) -> Coop | None:
    if artist_id is None:
        return None
    return session.scalar(select(Coop).where(Coop.artist_id == artist_id))


def _split(platform, session, coop: Coop, net: int, payment) -> tuple[dict[str, int], dict[str, Any], dict | None]:
    at = (payment.occurred_at if payment is not None and payment.occurred_at else None) or platform.clock.now()
    members = sorted(str(a) for a in voting_ids(session, coop.id))
    if not members:
        return {}, {}, None
    rule = split_rule_at(session, coop.id, at) or {"kind": "fan_centric", "min_share_bp": 0}
    if rule.get("kind") == "fixed" and set(rule.get("shares", {})) != set(members):
        # membership changed since this fixed rule passed: the members still in it keep their
        # proportions, newcomers get nothing until a new split passes
        kept = {a: bp for a, bp in rule["shares"].items() if a in members and bp > 0}
        if not kept:
            rule = {"kind": "fan_centric", "min_share_bp": 0}
        else:
            shares = splits.largest_remainder(10000, kept)
            rule = {"kind": "fixed", "shares": {a: shares.get(a, 0) for a in members}}
    plays = None
    if rule.get("kind") == "fan_centric" and payment is not None and payment.user_id is not None \
            and payment.period_start is not None and payment.period_end is not None:
        plays = ledger.fan_plays(session, payment.user_id, members, payment.period_start, payment.period_end)
    if rule.get("kind") == "fan_centric":
        rule = {**rule, "min_share_bp": min(int(rule.get("min_share_bp", 0)), 10000 // len(members))}
    return splits.split_payment(net, 0, rule, members, plays), rule, plays


def distribute_net(platform, artist_id, net, currency, payment):
    with platform.read() as s:
        coop = _coop_of(s, artist_id)
        if coop is None:
            return []
        shares, rule, plays = _split(platform, s, coop, net, payment)
    return [RevenueShare(PARTY, amount, REASON, payee_artist_id=uuid.UUID(a),
                         data={"coop_id": str(coop.id), "rule": rule, "plays": plays})
            for a, amount in sorted(shares.items())]


# ---------------------------------------------------------------- payment events

def _payee_shares(event) -> tuple[dict[str, int], dict[str, Any]]:
    out: dict[str, int] = {}
    detail: dict[str, Any] = {}
    for sh in (event.data or {}).get("shares") or []:
        if sh.get("party") == PARTY and sh.get("payee_artist_id"):
            out[sh["payee_artist_id"]] = out.get(sh["payee_artist_id"], 0) + int(sh["amount"])
            detail = sh.get("data") or detail
    return out, detail


def on_payment_event(platform, event):
    if event.type not in ("payment.succeeded", "payment.refunded", "payment.disputed", "payment.dispute_won"):
        return
    with platform.session() as s:
        coop = _coop_of(s, event.artist_id)
        if coop is None:
            return
        if event.type == "payment.succeeded":
            ref = record_succeeded(platform, s, coop, event)
        elif event.type == "payment.dispute_won":
            ref = record_won(platform, s, coop, event)
        else:
            ref = record_reversed(platform, s, coop, event)
        if ref:
            platform.jobs.enqueue("coop.payout", session=s, coop_id=str(coop.id), payment_ref=ref)


def record_succeeded(platform, session, coop: Coop, event) -> str | None:
    shares, detail = _payee_shares(event)
    if not shares:
        return None
    amount = int(event.amount or 0)
    ref = ledger.payment_ref(event.provider, event.external_id)
    rule = detail.get("rule") or {"kind": "fixed", "shares": {}}
    recorded = ledger.record_payment(session, coop_id=coop.id, payment_ref=ref, amount=amount,
                                     fee=amount - sum(shares.values()), currency=event.currency or "USD",
                                     rule=rule, members=sorted(shares), plays=detail.get("plays"),
                                     fan_id=event.user_id, occurred_at=event.occurred_at)
    if recorded is not None and {k: v for k, v in recorded.items() if k != ledger.PLATFORM} != shares:
        raise RuntimeError(f"co-op {coop.id}: the ledger's split of {ref} differs from the payment's shares")
    return ref


def record_reversed(platform, session, coop: Coop, event) -> str | None:
    data = event.data or {}
    if not data.get("payment"):
        return None
    ref = ledger.payment_ref(event.provider, data["payment"])
    kind = "refund" if event.type == "payment.refunded" else "dispute"
    try:
        ledger.record_reversal(session, coop_id=coop.id, payment_ref=ref, ref=str(event.external_id),
                               amount=int(event.amount or 0), kind=kind, occurred_at=event.occurred_at)
    except ledger.LedgerError as exc:
        log.error("co-op %s: %s of %s not recorded: %s", coop.id, kind, ref, exc)
        return None
    return ref


def record_won(platform, session, coop: Coop, event) -> str | None:
    """The dispute's clawbacks come back as a payment of their own (fee and shares exactly what
    the dispute took), so every balance and ``check_balanced`` stay right."""
    data = event.data or {}
    if not data.get("payment") or not data.get("dispute"):
        return None
    original = ledger.payment_ref(event.provider, data["payment"])
    taken = session.execute(select(LedgerEntry.artist_id, func.sum(LedgerEntry.amount)).where(
        LedgerEntry.coop_id == coop.id, LedgerEntry.payment_ref == original, LedgerEntry.kind == "clawback",
        LedgerEntry.ref == f"dispute:{data['dispute']}").group_by(LedgerEntry.artist_id)).all()
    back = {(str(a) if a is not None else ledger.PLATFORM): -int(v) for a, v in taken}
    total = sum(back.values())
    if total <= 0:
        return None
    ref = f"{original}{WON}{data['dispute']}"
    currency = session.scalar(select(LedgerPayment.currency).where(LedgerPayment.coop_id == coop.id,
                                                                   LedgerPayment.payment_ref == original))
    members = {a: v for a, v in back.items() if a != ledger.PLATFORM}
    fee = back.get(ledger.PLATFORM, 0)
    rule = {"kind": "fixed", "shares": splits.largest_remainder(10000, members)} if sum(members.values()) else \
        {"kind": "fan_centric", "min_share_bp": 0}
    at = event.occurred_at or platform.clock.now()
    try:
        with session.begin_nested():
            session.add(LedgerPayment(id=uuid.uuid4(), coop_id=coop.id, payment_ref=ref, currency=currency,
                                      amount=total, fee=fee, reversed=0, fan_id=event.user_id,
                                      split={"rule": rule, "reinstates": original}, occurred_at=at))
            session.flush()
            session.add(LedgerEntry(id=uuid.uuid4(), coop_id=coop.id, payment_ref=ref, kind="fee", artist_id=None,
                                    amount=fee, currency=currency, occurred_at=at, ref=None,
                                    idem_key=f"{coop.id}:{ref}:fee"))
            for a, v in sorted(members.items()):
                session.add(LedgerEntry(id=uuid.uuid4(), coop_id=coop.id, payment_ref=ref, kind="share",
                                        artist_id=uuid.UUID(a), amount=v, currency=currency, occurred_at=at,
                                        ref=None, idem_key=f"{coop.id}:{ref}:share:{a}"))
            session.flush()
    except IntegrityError:
        return None
    return ref


# ---------------------------------------------------------------- transfers

def owed_and_moved(session, coop_id: uuid.UUID, payment_ref: str) -> dict[str, tuple[int, int]]:
    """``{member: (owed, moved)}`` for one payment: share - clawbacks, transfers - reversals."""
    owed: dict[str, int] = {}
    for artist, total in session.execute(select(LedgerEntry.artist_id, func.sum(LedgerEntry.amount)).where(
            LedgerEntry.coop_id == coop_id, LedgerEntry.payment_ref == payment_ref, LedgerEntry.artist_id.is_not(None),
            LedgerEntry.kind.in_(("share", "clawback"))).group_by(LedgerEntry.artist_id)):
        owed[str(artist)] = int(total or 0)
    moved: dict[str, int] = {}
    for artist, kind, total in session.execute(select(Payout.artist_id, Payout.kind, func.sum(Payout.amount)).where(
            Payout.coop_id == coop_id, Payout.payment_ref == payment_ref).group_by(Payout.artist_id, Payout.kind)):
        moved[str(artist)] = moved.get(str(artist), 0) + (int(total) if kind == "transfer" else -int(total))
    return {a: (owed.get(a, 0), moved.get(a, 0)) for a in sorted(set(owed) | set(moved))}


def _record(platform, session, coop_id, payment_ref, artist, kind, provider, result, transfer_ref, amount, currency,
            key) -> None:
    try:
        with session.begin_nested():
            session.add(Payout(id=uuid.uuid4(), coop_id=coop_id, payment_ref=payment_ref, artist_id=uuid.UUID(artist),
                               kind=kind, provider=provider, provider_ref=str(result["id"]), transfer_ref=transfer_ref,
                               amount=amount, currency=currency, idem_key=key, created_at=platform.clock.now()))
            session.flush()
    except IntegrityError:
        return  # the same move, recorded by a concurrent run
    if kind == "transfer":
        ledger.record_transfer(session, coop_id=coop_id, artist_id=uuid.UUID(artist), amount=amount, currency=currency,
                               ref=str(result["id"]))
    else:
        ledger.record_transfer_reversal(session, coop_id=coop_id, artist_id=uuid.UUID(artist), amount=amount,
                                        currency=currency, ref=str(result["id"]))


def payout(platform, coop_id: uuid.UUID, payment_ref: str) -> dict[str, Any]:
    """Move the difference between what each member is owed from ``payment_ref`` and what was
    moved so far; each move in its own transaction, recorded once."""
    base = payment_ref.split(WON)[0]
    provider, external_id = base.split(":", 1)
    source_ref = None if WON in payment_ref else external_id
    with platform.read() as s:
        currency = s.scalar(select(LedgerPayment.currency).where(LedgerPayment.coop_id == coop_id,
                                                                 LedgerPayment.payment_ref == payment_ref))
        todo = owed_and_moved(s, coop_id, payment_ref)
    if currency is None:
        return {"missing": payment_ref}
    done = {"transferred": 0, "reversed": 0, "owed": 0}
    for artist, (owed, moved) in todo.items():
        diff = owed - moved
        if diff > 0:
            with platform.read() as s:
                n = s.scalar(select(func.count()).select_from(Payout).where(
                    Payout.coop_id == coop_id, Payout.payment_ref == payment_ref,
                    Payout.artist_id == uuid.UUID(artist), Payout.kind == "transfer")) or 0
            key = f"coop:{payment_ref}:{artist}" + (f":{n}" if n else "")
            try:
                result = platform.payments.call(provider, "transfer", artist_id=uuid.UUID(artist), amount=diff,
                                                currency=currency.upper(), source_ref=source_ref, idempotency_key=key,
                                                metadata={"coop_id": str(coop_id), "payment": payment_ref})
            except Problem as exc:
                if exc.status == 409:
                    log.info("co-op %s: %s of %s stays owed to %s (%s)", coop_id, diff, payment_ref, artist, exc.slug)
                    done["owed"] += diff
                    continue
                raise
            with platform.session() as s:
                _record(platform, s, coop_id, payment_ref, artist, "transfer", provider, result, None, diff,
                        currency, key)
            done["transferred"] += diff
        elif diff < 0:
            done["reversed"] += _reverse(platform, coop_id, payment_ref, artist, provider, -diff, currency)
    return done


def _reverse(platform, coop_id, payment_ref, artist, provider, amount, currency) -> int:
    """Take ``amount`` back from the member's transfers of this payment, the latest first."""
    with platform.read() as s:
        transfers = s.execute(select(Payout.provider_ref, Payout.amount).where(
            Payout.coop_id == coop_id, Payout.payment_ref == payment_ref, Payout.artist_id == uuid.UUID(artist),
            Payout.kind == "transfer").order_by(Payout.created_at.desc(), Payout.idem_key.desc())).all()
        back = dict(s.execute(select(Payout.transfer_ref, func.sum(Payout.amount)).where(
            Payout.coop_id == coop_id, Payout.payment_ref == payment_ref, Payout.artist_id == uuid.UUID(artist),
            Payout.kind == "reversal").group_by(Payout.transfer_ref)).all())
        n = s.scalar(select(func.count()).select_from(Payout).where(
            Payout.coop_id == coop_id, Payout.payment_ref == payment_ref, Payout.artist_id == uuid.UUID(artist),
            Payout.kind == "reversal")) or 0
    reversed_ = 0
    for tr_ref, tr_amount in transfers:
        part = min(amount - reversed_, int(tr_amount) - int(back.get(tr_ref) or 0))
        if part <= 0:
            continue
        key = f"coop:{payment_ref}:{artist}:reversal:{n}"
        result = platform.payments.call(provider, "reverse_transfer", transfer_id=tr_ref, amount=part,
                                        idempotency_key=key)
        with platform.session() as s:
            _record(platform, s, coop_id, payment_ref, artist, "reversal", provider, result, tr_ref, part, currency,
                    key)
        n += 1
        reversed_ += part
        if reversed_ >= amount:
            break
    return reversed_


def unsettled(session) -> list[tuple[uuid.UUID, str]]:
    """Payments where some member's owed share differs from what was moved."""
    out = []
    for coop_id, ref in session.execute(select(LedgerPayment.coop_id, LedgerPayment.payment_ref)
                                        .order_by(LedgerPayment.occurred_at)).all():
        if any(o != m for o, m in owed_and_moved(session, coop_id, ref).values()):
            out.append((coop_id, ref))
    return out


def _payout_job(ctx, coop_id: str, payment_ref: str):
    return payout(ctx.platform, uuid.UUID(coop_id), payment_ref)


def _payout_sweep(ctx):
    with ctx.platform.read() as s:
        due = unsettled(s)
    moved = 0
    for coop_id, ref in due:
        try:
            r = payout(ctx.platform, coop_id, ref)
            moved += r.get("transferred", 0) + r.get("reversed", 0)
        except Exception:
            log.exception("co-op %s: payout of %s failed; retried on the next sweep", coop_id, ref)
    return {"payments": len(due), "moved": moved}


JOBS = [JobSpec("payout", _payout_job, max_retries=5, min_backoff_ms=2000),
        JobSpec("payout_sweep", _payout_sweep, max_retries=0, every_seconds=900)]
