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
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from musicconnect import JobSpec, PaymentEvent, PermanentJobError, Problem, RevenueShare
from musicconnect.models import DomainEvent

from . import ledger, splits
from .bundle_models import Payout
from .governance import split_rule_at, voting_ids
from .ledger_models import LedgerEntry, LedgerPayment
from .models import Coop, Member

log = logging.getLogger("musicconnect.coop.payouts")
PARTY = "coop"
REASON = "co-op member share"
WON = "#won:"


def _coop_of(session, artist_id) -> Coop | None:
    if artist_id is None:
        return None
    return session.scalar(select(Coop).where(Coop.artist_id == artist_id))


class SplitError(RuntimeError):
    """The co-op account cannot split this payment (dissolved, or no member at payment time): the
    core's split hook fails closed, so the payment is not recorded without its split."""


def members_at(session, coop_id: uuid.UUID, at: datetime) -> list[str]:
    """The members of the co-op at ``at``: joined at or before it and not left by then."""
    return sorted(str(a) for a in session.scalars(select(Member.artist_id).where(
        Member.coop_id == coop_id, Member.status.in_(("active", "leaving", "left")), Member.joined_at.is_not(None),
        Member.joined_at <= at, or_(Member.left_at.is_(None), Member.left_at > at))))


def listening_window(session, artist_id, payment, at: datetime) -> tuple[datetime, datetime] | None:
    """The period whose listening a fan-centric split follows (docs/coop.md): the period that
    just ended. A renewal (a previous payment of this fan to this account whose paid period ends
    where this one starts): ``[previous period_start, this period_start)``; a first invoice: a
    trailing window as long as the paid period, ending at payment time."""
    start, end = payment.period_start, payment.period_end
    if start is None or end is None or end <= start:
        return None
    for row in session.scalars(select(DomainEvent).where(
            DomainEvent.type == "payment.succeeded", DomainEvent.actor_id == payment.user_id,
            DomainEvent.artist_id == artist_id, DomainEvent.occurred_at < at).order_by(DomainEvent.occurred_at.desc()).limit(50)):
        data = row.data or {}
        try:
            prev_start = datetime.fromisoformat(data["period_start"])
            prev_end = datetime.fromisoformat(data["period_end"])
        except (KeyError, TypeError, ValueError):
            continue
        if prev_start.tzinfo is None:
            prev_start, prev_end = prev_start.replace(tzinfo=timezone.utc), prev_end.replace(tzinfo=timezone.utc)
        if prev_end == start and prev_start < start:
            return prev_start, start
    return at - (end - start), at


def _split(platform, session, coop: Coop, net: int, payment) -> tuple[dict[str, int], dict[str, Any], dict | None]:
    at = (payment.occurred_at if payment is not None and payment.occurred_at else None) or platform.clock.now()
    if coop.status == "dissolved":
        raise SplitError(f"co-op {coop.id} is dissolved: its account takes no payment")
    members = members_at(session, coop.id, at) if payment is not None else \
        sorted(str(a) for a in voting_ids(session, coop.id))
    if not members:
        raise SplitError(f"co-op {coop.id} had no member at {at.isoformat()}: nobody to split the payment among")
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
    if rule.get("kind") == "fan_centric" and payment is not None and payment.user_id is not None:
        window = listening_window(session, coop.artist_id, payment, at)
        if window is not None:
            plays = ledger.fan_plays(session, payment.user_id, members, *window)
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
        ref = _apply(platform, s, coop, event)
        if ref:
            platform.jobs.enqueue("coop.payout", session=s, coop_id=str(coop.id), payment_ref=ref)


def _apply(platform, session, coop: Coop, event) -> str | None:
    if event.type == "payment.succeeded":
        return record_succeeded(platform, session, coop, event)
    if event.type == "payment.dispute_won":
        return record_won(platform, session, coop, event)
    return record_reversed(platform, session, coop, event)


FACTS = ("payment.succeeded", "payment.refunded", "payment.disputed", "payment.dispute_won")


def _as_payment_event(row: DomainEvent) -> PaymentEvent:
    data = dict(row.data or {})
    tier = data.get("tier_id")
    return PaymentEvent(type=row.type, provider=str(data.get("provider") or ""), user_id=row.actor_id,
                        artist_id=row.artist_id, tier_id=uuid.UUID(tier) if tier else None,
                        amount=data.get("amount"), currency=data.get("currency"), external_id=row.subject_id,
                        occurred_at=row.occurred_at, data=data)


def reconcile(platform) -> int:
    """Record the durable payment facts (the ``payment.*`` domain events of co-op accounts) the
    ledger does not have yet: ``on_payment_event`` runs after commit and a failure or a restart
    there loses nothing, the next sweep records it (an anti-join over the co-op's facts; every
    recording is idempotent). Returns how many facts were recorded now."""
    with platform.read() as s:
        coops = {c.artist_id: c.id for c in s.scalars(select(Coop))}
        if not coops:
            return 0
        rows = s.execute(select(DomainEvent.id, DomainEvent.type, DomainEvent.artist_id, DomainEvent.subject_id,
                                DomainEvent.data).where(DomainEvent.type.in_(FACTS),
                                                        DomainEvent.artist_id.in_(list(coops)))
                         .order_by(DomainEvent.occurred_at, DomainEvent.id)).all()
        payments = {(c, r) for c, r in s.execute(select(LedgerPayment.coop_id, LedgerPayment.payment_ref))}
        clawed = {(c, p.split(WON)[0], r) for c, p, r in s.execute(
            select(LedgerEntry.coop_id, LedgerEntry.payment_ref, LedgerEntry.ref)
            .where(LedgerEntry.kind == "clawback").distinct())}
    missing = []
    for event_id, type_, artist_id, subject, data in rows:
        coop_id, data = coops[artist_id], data or {}
        provider = data.get("provider")
        if not provider or not subject:
            continue
        if type_ == "payment.succeeded":
            if not any(sh.get("party") == PARTY and sh.get("payee_artist_id") for sh in data.get("shares") or []):
                continue
            done = (coop_id, ledger.payment_ref(provider, subject)) in payments
        elif type_ == "payment.dispute_won":
            if not data.get("payment") or not data.get("dispute"):
                continue
            done = (coop_id, f"{ledger.payment_ref(provider, data['payment'])}{WON}{data['dispute']}") in payments
        else:
            if not data.get("payment"):
                continue
            kind = "refund" if type_ == "payment.refunded" else "dispute"
            done = (coop_id, ledger.payment_ref(provider, data["payment"]), f"{kind}:{subject}") in clawed
        if not done:
            missing.append(event_id)
    recorded = 0
    for event_id in missing:
        try:
            with platform.session() as s:
                row = s.get(DomainEvent, event_id)
                coop = _coop_of(s, row.artist_id)
                if _apply(platform, s, coop, _as_payment_event(row)):
                    recorded += 1
                    log.warning("co-op %s: payment fact %s %s was missing from the ledger; recorded by the sweep",
                                coop.id, row.type, row.subject_id)
        except Exception:
            log.exception("co-op: payment fact %s could not be recorded; retried on the next sweep", event_id)
    return recorded


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
    amount = int(event.amount or 0)
    # a dispute that was won lives on as its own payment (<ref>#won:<id>): what the original has
    # no room left for (it still counts the dispute) is taken from those, so a full refund after
    # a won dispute is recorded
    won = [(p.payment_ref, p.amount - p.reversed) for p in session.scalars(select(LedgerPayment).where(
        LedgerPayment.coop_id == coop.id, LedgerPayment.payment_ref.startswith(f"{ref}{WON}", autoescape=True))
        .order_by(LedgerPayment.occurred_at, LedgerPayment.payment_ref))]
    parts = [(ref, amount)]
    if won:
        if session.scalar(select(func.count()).select_from(LedgerEntry).where(
                LedgerEntry.coop_id == coop.id, LedgerEntry.ref == f"{kind}:{event.external_id}",
                LedgerEntry.payment_ref.in_([ref] + [w for w, _ in won]))):
            return ref  # recorded before
        left = session.scalar(select(LedgerPayment.amount - LedgerPayment.reversed).where(
            LedgerPayment.coop_id == coop.id, LedgerPayment.payment_ref == ref)) or 0
        parts, rest = [(ref, min(amount, left))], amount - min(amount, left)
        for won_ref, room in won:
            take = min(rest, room)
            parts.append((won_ref, take))
            rest -= take
        parts[0] = (ref, parts[0][1] + rest)  # more than there is: the original refuses it below
    try:
        with session.begin_nested():
            for payment_ref, part in parts:
                if part > 0:
                    ledger.record_reversal(session, coop_id=coop.id, payment_ref=payment_ref,
                                           ref=str(event.external_id), amount=part, kind=kind,
                                           occurred_at=event.occurred_at)
    except ledger.LedgerError as exc:
        log.error("co-op %s: %s of %s not recorded: %s", coop.id, kind, ref, exc)
        return None
    for payment_ref, part in parts[1:]:
        if part > 0:
            platform.jobs.enqueue("coop.payout", session=session, coop_id=str(coop.id), payment_ref=payment_ref)
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
    """``{member: (owed, moved)}`` for one payment: share - clawbacks, transfers - reversals (a
    pending move counts as moved: it is committed before the provider is asked, and retried with
    the same key and amount until it is done)."""
    owed: dict[str, int] = {}
    for artist, total in session.execute(select(LedgerEntry.artist_id, func.sum(LedgerEntry.amount)).where(
            LedgerEntry.coop_id == coop_id, LedgerEntry.payment_ref == payment_ref, LedgerEntry.artist_id.is_not(None),
            LedgerEntry.kind.in_(("share", "clawback"))).group_by(LedgerEntry.artist_id)):
        owed[str(artist)] = int(total or 0)
    moved: dict[str, int] = {}
    for artist, kind, total in session.execute(select(Payout.artist_id, Payout.kind, func.sum(Payout.amount)).where(
            Payout.coop_id == coop_id, Payout.payment_ref == payment_ref, Payout.status != "failed")
            .group_by(Payout.artist_id, Payout.kind)):
        moved[str(artist)] = moved.get(str(artist), 0) + (int(total) if kind == "transfer" else -int(total))
    return {a: (owed.get(a, 0), moved.get(a, 0)) for a in sorted(set(owed) | set(moved))}


def _begin(platform, coop_id, payment_ref, artist, kind, provider, amount, currency, transfer_ref=None):
    """Commit a ``pending`` move (its idempotency key and amount) before the provider is asked.
    The transaction starts with a write on the payment's row (the write lock on SQLite, the row
    lock on PostgreSQL), so two runs never both decide to move the same money. ``None`` when
    another run moved it meanwhile."""
    with platform.session() as s:
        s.execute(update(LedgerPayment).where(LedgerPayment.coop_id == coop_id,
                                              LedgerPayment.payment_ref == payment_ref)
                  .values(reversed=LedgerPayment.reversed).execution_options(synchronize_session=False))
        owed, moved = owed_and_moved(s, coop_id, payment_ref).get(artist, (0, 0))
        if kind == "transfer" and amount > owed - moved or kind == "reversal" and amount > moved - owed:
            return None
        if kind == "reversal" and transfer_ref is not None:
            back = s.scalar(select(func.coalesce(func.sum(Payout.amount), 0)).where(
                Payout.coop_id == coop_id, Payout.kind == "reversal", Payout.transfer_ref == transfer_ref,
                Payout.status != "failed")) or 0
            sent = s.scalar(select(Payout.amount).where(Payout.provider_ref == transfer_ref,
                                                        Payout.kind == "transfer")) or 0
            if amount > int(sent) - int(back):
                return None
        same_transfer = Payout.transfer_ref.is_(None) if transfer_ref is None else Payout.transfer_ref == transfer_ref
        refused = s.scalar(select(Payout).where(
            Payout.coop_id == coop_id, Payout.payment_ref == payment_ref, Payout.artist_id == uuid.UUID(artist),
            Payout.kind == kind, Payout.status == "failed", same_transfer).limit(1))
        if refused is not None:  # a move the provider refused before (no payout account yet): try it again
            # in the same row with a fresh key (a provider keeps a refused key's answer), not a new row
            # every sweep
            again = s.execute(update(Payout).where(Payout.id == refused.id, Payout.status == "failed").values(
                status="pending", amount=amount, currency=currency, provider=provider,
                idem_key=f"{refused.idem_key.split(':retry:')[0]}:retry:{uuid.uuid4().hex[:12]}",
                created_at=platform.clock.now()).execution_options(synchronize_session=False)).rowcount
            return refused.id if again == 1 else None
        n = s.scalar(select(func.count()).select_from(Payout).where(
            Payout.coop_id == coop_id, Payout.payment_ref == payment_ref, Payout.artist_id == uuid.UUID(artist),
            Payout.kind == kind)) or 0
        key = f"coop:{payment_ref}:{artist}" + (f":{n}" if n else "") if kind == "transfer" else \
            f"coop:{payment_ref}:{artist}:reversal:{n}"
        row = Payout(id=uuid.uuid4(), coop_id=coop_id, payment_ref=payment_ref, artist_id=uuid.UUID(artist),
                     kind=kind, provider=provider, provider_ref=None, transfer_ref=transfer_ref, amount=amount,
                     currency=currency, idem_key=key, status="pending", created_at=platform.clock.now())
        try:
            with s.begin_nested():
                s.add(row)
                s.flush()
        except IntegrityError:
            return None
        return row.id


def _record(platform, session, payout_id, result) -> int:
    """Mark a pending move done with what the provider returned (its id and amount) and write
    it in the ledger, once. Returns the amount moved (0 when it was done already)."""
    row = session.get(Payout, payout_id)
    amount = int(result.get("amount", row.amount))
    if amount != row.amount:
        log.error("co-op %s: the provider moved %s for %s (asked %s); the ledger records the provider's amount",
                  row.coop_id, amount, row.idem_key, row.amount)
    done = session.execute(update(Payout).where(Payout.id == payout_id, Payout.status == "pending")
                           .values(status="done", provider_ref=str(result["id"]), amount=amount)
                           .execution_options(synchronize_session=False)).rowcount
    if done != 1:
        return 0
    if row.kind == "transfer":
        ledger.record_transfer(session, coop_id=row.coop_id, artist_id=row.artist_id, amount=amount,
                               currency=row.currency, ref=str(result["id"]))
    else:
        ledger.record_transfer_reversal(session, coop_id=row.coop_id, artist_id=row.artist_id, amount=amount,
                                        currency=row.currency, ref=str(result["id"]))
    return amount


def _send(platform, payout_id, source_ref, done: dict[str, int]) -> None:
    """Ask the provider for a pending move (the same key and amount on every retry). A refusal
    (409: no payout account, nothing left of a transfer) marks it failed (the money stays owed,
    the next move takes a new key); any other error leaves it pending for the next run."""
    with platform.read() as s:
        row = s.get(Payout, payout_id)
        kind, provider, amount, key, currency = row.kind, row.provider, row.amount, row.idem_key, row.currency
        artist, transfer_ref, coop_id, payment_ref = row.artist_id, row.transfer_ref, row.coop_id, row.payment_ref
    try:
        if kind == "transfer":
            result = platform.payments.call(provider, "transfer", artist_id=artist, amount=amount,
                                            currency=currency.upper(), source_ref=source_ref, idempotency_key=key,
                                            metadata={"coop_id": str(coop_id), "payment": payment_ref})
        else:
            result = platform.payments.call(provider, "reverse_transfer", transfer_id=transfer_ref, amount=amount,
                                            idempotency_key=key)
    except Problem as exc:
        if exc.slug == "unknown-payment-provider":  # not on in this process: nothing was sent
            raise PermanentJobError(f"co-op {coop_id}: {exc}; the {kind} of {amount} stays pending and the "
                                    "payout sweep sends it where the provider is on") from None
        if exc.status != 409:
            raise
        with platform.session() as s:
            s.execute(update(Payout).where(Payout.id == payout_id, Payout.status == "pending")
                      .values(status="failed").execution_options(synchronize_session=False))
        log.info("co-op %s: %s of %s for %s refused (%s); stays owed", coop_id, kind, amount, artist, exc.slug)
        if kind == "transfer":
            done["owed"] += amount
        return
    with platform.session() as s:
        moved = _record(platform, s, payout_id, dict(result))
    done["transferred" if kind == "transfer" else "reversed"] += moved


def payout(platform, coop_id: uuid.UUID, payment_ref: str) -> dict[str, Any]:
    """Move the difference between what each member is owed from ``payment_ref`` and what was
    moved so far. Every move is first committed as ``pending`` (key + amount), then sent, then
    marked done with the provider's id and amount; a pending move left by a crash is resent
    as it was (never with another amount), and a refund that came meanwhile is a later reversal."""
    base = payment_ref.split(WON)[0]
    provider, external_id = base.split(":", 1)
    source_ref = None if WON in payment_ref else external_id
    with platform.read() as s:
        currency = s.scalar(select(LedgerPayment.currency).where(LedgerPayment.coop_id == coop_id,
                                                                 LedgerPayment.payment_ref == payment_ref))
        pending = list(s.scalars(select(Payout.id).where(Payout.coop_id == coop_id,
                                                         Payout.payment_ref == payment_ref,
                                                         Payout.status == "pending")
                                 .order_by(Payout.created_at, Payout.idem_key)))
    if currency is None:
        return {"missing": payment_ref}
    done = {"transferred": 0, "reversed": 0, "owed": 0}
    for payout_id in pending:
        _send(platform, payout_id, source_ref, done)
    with platform.read() as s:
        todo = owed_and_moved(s, coop_id, payment_ref)
    for artist, (owed, moved) in todo.items():
        diff = owed - moved
        if diff > 0:
            payout_id = _begin(platform, coop_id, payment_ref, artist, "transfer", provider, diff, currency)
            if payout_id is not None:
                _send(platform, payout_id, source_ref, done)
        elif diff < 0:
            rest = _absorb_unclaimable(platform, coop_id, payment_ref, artist, -diff, currency)
            if rest > 0:
                _reverse(platform, coop_id, payment_ref, artist, provider, rest, currency, done)
    return done


def _absorb_unclaimable(platform, coop_id, payment_ref, artist, amount, currency) -> int:
    """A clawback of an erased member's share first takes back what was marked ``unclaimable``
    (never paid out, so nothing to reverse at the provider); returns what is left to reverse."""
    with platform.session() as s:
        s.execute(update(LedgerPayment).where(LedgerPayment.coop_id == coop_id,
                                              LedgerPayment.payment_ref == payment_ref)
                  .values(reversed=LedgerPayment.reversed).execution_options(synchronize_session=False))
        rows = s.execute(select(Payout.kind, func.sum(Payout.amount), func.count()).where(
            Payout.coop_id == coop_id, Payout.payment_ref == payment_ref, Payout.artist_id == uuid.UUID(artist),
            Payout.status == "unclaimable").group_by(Payout.kind)).all()
        if not rows:
            return amount
        sums = {kind: int(total) for kind, total, _ in rows}
        n = sum(int(c) for _, _, c in rows)
        owed, moved = owed_and_moved(s, coop_id, payment_ref).get(artist, (0, 0))
        take = min(amount, moved - owed, sums.get("transfer", 0) - sums.get("reversal", 0))
        if take <= 0:
            return amount
        s.add(Payout(id=uuid.uuid4(), coop_id=coop_id, payment_ref=payment_ref, artist_id=uuid.UUID(artist),
                     kind="reversal", provider=payment_ref.split(":", 1)[0], provider_ref=None, transfer_ref=None,
                     amount=take, currency=currency, idem_key=f"coop:{payment_ref}:{artist}:unclaimable:{n}",
                     status="unclaimable", created_at=platform.clock.now()))
        s.flush()
        return amount - take


def _reverse(platform, coop_id, payment_ref, artist, provider, amount, currency, done) -> None:
    """Take ``amount`` back from the member's done transfers of this payment, the latest first."""
    with platform.read() as s:
        transfers = s.execute(select(Payout.provider_ref, Payout.amount).where(
            Payout.coop_id == coop_id, Payout.payment_ref == payment_ref, Payout.artist_id == uuid.UUID(artist),
            Payout.kind == "transfer", Payout.status == "done")
            .order_by(Payout.created_at.desc(), Payout.idem_key.desc())).all()
        back = dict(s.execute(select(Payout.transfer_ref, func.sum(Payout.amount)).where(
            Payout.coop_id == coop_id, Payout.payment_ref == payment_ref, Payout.artist_id == uuid.UUID(artist),
            Payout.kind == "reversal", Payout.status != "failed").group_by(Payout.transfer_ref)).all())
    left = amount
    for tr_ref, tr_amount in transfers:
        part = min(left, int(tr_amount) - int(back.get(tr_ref) or 0))
        if part <= 0:
            continue
        payout_id = _begin(platform, coop_id, payment_ref, artist, "reversal", provider, part, currency, tr_ref)
        if payout_id is None:
            return
        _send(platform, payout_id, None, done)
        left -= part
        if left <= 0:
            return


def unsettled(session) -> list[tuple[uuid.UUID, str]]:
    """Payments where some member's owed share differs from what was moved, or a move is
    pending, oldest first: :func:`owed_and_moved` for every payment at once, in four queries
    whatever the number of payments (the sweep reads the whole ledger every run)."""
    pending = set(session.execute(select(Payout.coop_id, Payout.payment_ref).where(Payout.status == "pending")
                                  .distinct()).all())
    balance: dict[tuple, int] = {}
    for coop_id, ref, artist, total in session.execute(
            select(LedgerEntry.coop_id, LedgerEntry.payment_ref, LedgerEntry.artist_id, func.sum(LedgerEntry.amount))
            .where(LedgerEntry.artist_id.is_not(None), LedgerEntry.kind.in_(("share", "clawback")))
            .group_by(LedgerEntry.coop_id, LedgerEntry.payment_ref, LedgerEntry.artist_id)):
        balance[(coop_id, ref, artist)] = int(total or 0)
    for coop_id, ref, artist, kind, total in session.execute(
            select(Payout.coop_id, Payout.payment_ref, Payout.artist_id, Payout.kind, func.sum(Payout.amount))
            .where(Payout.status != "failed")
            .group_by(Payout.coop_id, Payout.payment_ref, Payout.artist_id, Payout.kind)):
        key = (coop_id, ref, artist)
        balance[key] = balance.get(key, 0) - (int(total) if kind == "transfer" else -int(total))
    off = {(coop_id, ref) for (coop_id, ref, _), diff in balance.items() if diff != 0}
    return [(coop_id, ref) for coop_id, ref in session.execute(
        select(LedgerPayment.coop_id, LedgerPayment.payment_ref).order_by(LedgerPayment.occurred_at)).all()
        if (coop_id, ref) in pending or (coop_id, ref) in off]


def _payout_job(ctx, coop_id: str, payment_ref: str):
    return payout(ctx.platform, uuid.UUID(coop_id), payment_ref)


def _payout_sweep(ctx):
    recorded = reconcile(ctx.platform)
    with ctx.platform.read() as s:
        due = unsettled(s)
    moved = 0
    for coop_id, ref in due:
        try:
            r = payout(ctx.platform, coop_id, ref)
            moved += r.get("transferred", 0) + r.get("reversed", 0)
        except PermanentJobError as exc:
            log.warning("%s", exc)
        except Exception:
            log.exception("co-op %s: payout of %s failed; retried on the next sweep", coop_id, ref)
    return {"recorded": recorded, "payments": len(due), "moved": moved}


def cancel_renewals(platform, coop_id: uuid.UUID) -> dict[str, int]:
    """A dissolved co-op's bundle subscriptions stop renewing: every live subscription to a tier
    of the co-op's account is cancelled at period end through its provider's ``cancel``
    capability (the fan keeps what they paid for until then). A provider without ``cancel`` is
    logged; its renewals are refused by ``distribute_net`` (the split fails closed)."""
    from musicconnect.contracts import SubscriptionRef
    from musicconnect.models import Entitlement, Tier

    with platform.read() as s:
        coop = s.get(Coop, coop_id)
        rows = s.execute(select(Entitlement.source, Entitlement.source_ref, Entitlement.user_id,
                                Entitlement.artist_id, Entitlement.tier_id)
                         .join(Tier, Tier.id == Entitlement.tier_id)
                         .where(Tier.artist_id == coop.artist_id, Entitlement.status.in_(("active", "past_due")))
                         ).all()
    out = {"cancelled": 0, "unsupported": 0}
    for source, source_ref, user_id, artist_id, tier_id in rows:
        try:
            provider = platform.payments.provider(source)
        except Exception:
            continue  # not a payment provider's entitlement
        if not platform.payments.offers(provider, "cancel"):
            log.error("co-op %s dissolved: provider %s cannot cancel subscription %s; its renewals are refused",
                      coop_id, source, source_ref)
            out["unsupported"] += 1
            continue
        platform.payments.call(source, "cancel", subscription=SubscriptionRef(
            provider=source, external_id=source_ref, user_id=user_id, artist_id=artist_id, tier_id=tier_id),
            at_period_end=True)
        out["cancelled"] += 1
    return out


def _cancel_renewals_job(ctx, coop_id: str):
    return cancel_renewals(ctx.platform, uuid.UUID(coop_id))


JOBS = [JobSpec("payout", _payout_job, max_retries=5, min_backoff_ms=2000),
        JobSpec("payout_sweep", _payout_sweep, max_retries=0, every_seconds=900),
        JobSpec("cancel_renewals", _cancel_renewals_job, max_retries=8, min_backoff_ms=5000)]
