"""The co-op ledger (G-MONEY): payments split into member shares, refunds and disputes clawed back,
transfers to the members, balances, and the invariant that the ledger balances.

The arithmetic is in :mod:`splits`; this module writes it down, once:

* ``record_payment``: the co-op's payment row (unique per co-op and ``payment_ref``) and one
  ``fee`` entry plus one ``share`` entry per member. A second call for the same payment, even a
  concurrent one, records nothing and returns ``None``.
* ``record_reversal``: a refund or dispute of ``amount`` (idempotent by its own ``ref``): one
  conditional UPDATE moves the payment's ``reversed`` total, never past what was paid (it also
  serialises reversals of one payment), then the amount is spread by :func:`splits.clawback`
  over the original fee and shares, never taking more than is left of one: reversals adding up
  to the whole payment give back exactly every share.
* ``record_transfer`` / ``record_transfer_reversal``: money paid out to a member (negative) and a
  failed/reversed payout (positive), idempotent by the transfer's ``ref``.
* ``balances``: per member and currency, shares - clawbacks - transfers + transfer reversals.
* ``check_balanced``: every discrepancy found (an empty list when the ledger balances).

Writes start with the write itself (an INSERT or a conditional UPDATE) so that on SQLite the
transaction takes the write lock before it reads, and on PostgreSQL the payment row is locked.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from musicconnect.clock import utcnow
from musicconnect.models import DomainEvent

from . import splits
from .ledger_models import LedgerEntry, LedgerPayment

__all__ = ["LedgerError", "payment_ref", "record_payment", "record_reversal", "record_transfer",
           "record_transfer_reversal", "balances", "check_balanced", "fan_plays", "PLATFORM"]

#: the key of the platform (its fee) in split/clawback mappings; artist_id NULL in the ledger
PLATFORM = ""
REVERSAL_KINDS = ("refund", "dispute")


class LedgerError(ValueError):
    """A fact the ledger refuses: an unknown payment, a reversal beyond what is left of it."""


def payment_ref(provider: str, external_id: str) -> str:
    return f"{provider}:{external_id}"


def _now(occurred_at: datetime | None) -> datetime:
    return occurred_at if occurred_at is not None else utcnow()


def _entry(coop_id, ref_payment, kind, key, amount, currency, at, idem, ref=None) -> LedgerEntry:
    return LedgerEntry(id=uuid.uuid4(), coop_id=coop_id, payment_ref=ref_payment, kind=kind,
                       artist_id=None if key == PLATFORM else uuid.UUID(key), amount=amount, currency=currency,
                       occurred_at=at, ref=ref, idem_key=idem)


def record_payment(session: Session, *, coop_id: uuid.UUID, payment_ref: str, amount: int, fee: int,
                   currency: str, rule: Mapping[str, Any], members: Iterable[uuid.UUID | str],
                   plays: Mapping[Any, int] | None = None, fan_id: uuid.UUID | None = None,
                   occurred_at: datetime | None = None) -> dict[str, int] | None:
    """Split a payment of ``amount`` (fee first) among ``members`` by ``rule`` (``plays``: the
    fan's counted plays of the members in the invoice period, for a fan-centric rule) and record
    it. Returns ``{artist_id: share}`` (the platform under ``PLATFORM``), or ``None`` when this
    payment was already recorded. Bad amounts or a bad rule raise before anything is written."""
    members = [str(m) for m in members]
    shares = splits.split_payment(amount, fee, rule, members, plays)
    weights = splits.rule_weights(rule, members, plays)
    at = _now(occurred_at)
    currency = currency.lower()
    try:
        with session.begin_nested():
            session.add(LedgerPayment(id=uuid.uuid4(), coop_id=coop_id, payment_ref=payment_ref, currency=currency,
                                      amount=amount, fee=fee, reversed=0, fan_id=fan_id,
                                      split={"rule": splits.validate_rule(rule, members), "weights": weights},
                                      occurred_at=at))
            session.flush()
            base = f"{coop_id}:{payment_ref}"
            session.add(_entry(coop_id, payment_ref, "fee", PLATFORM, fee, currency, at, f"{base}:fee"))
            for artist, share in shares.items():
                session.add(_entry(coop_id, payment_ref, "share", artist, share, currency, at,
                                   f"{base}:share:{artist}"))
            session.flush()
    except IntegrityError:  # recorded before, or by a concurrent transaction first
        return None
    return {PLATFORM: fee, **shares}


def _original(session: Session, coop_id, ref_payment) -> tuple[dict[str, int], dict[str, int]]:
    rows = session.execute(select(LedgerEntry.kind, LedgerEntry.artist_id, LedgerEntry.amount).where(
        LedgerEntry.coop_id == coop_id, LedgerEntry.payment_ref == ref_payment,
        LedgerEntry.kind.in_(("share", "fee", "clawback")))).all()
    original: dict[str, int] = {}
    clawed: dict[str, int] = {}
    for kind, artist, amt in rows:
        key = PLATFORM if artist is None else str(artist)
        if kind == "clawback":
            clawed[key] = clawed.get(key, 0) - amt
        else:
            original[key] = original.get(key, 0) + amt
    return original, clawed


def record_reversal(session: Session, *, coop_id: uuid.UUID, payment_ref: str, ref: str, amount: int,
                    kind: str = "refund", occurred_at: datetime | None = None) -> dict[str, int] | None:
    """Claw back a refund or dispute (``kind``) of ``amount`` (of the paid amount, fee included)
    identified by ``ref``; returns what was taken from each (the platform under ``PLATFORM``), or
    ``None`` when this reversal was already recorded. Raises ``LedgerError`` for an unknown
    payment or more than is left of it."""
    if kind not in REVERSAL_KINDS:
        raise LedgerError(f"kind must be one of {', '.join(REVERSAL_KINDS)}")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise LedgerError("a reversal is a positive integer amount in minor units")
    at = _now(occurred_at)
    base = f"{coop_id}:{payment_ref}:{kind}:{ref}"
    try:
        with session.begin_nested():
            moved = session.execute(
                update(LedgerPayment)
                .where(LedgerPayment.coop_id == coop_id, LedgerPayment.payment_ref == payment_ref,
                       LedgerPayment.reversed + amount <= LedgerPayment.amount)
                .values(reversed=LedgerPayment.reversed + amount)
                .execution_options(synchronize_session=False)).rowcount
            if moved != 1:
                done = session.scalar(select(func.count()).select_from(LedgerEntry).where(
                    LedgerEntry.idem_key.like(f"{base}:%")))
                if done:
                    return None
                payment = session.scalar(select(LedgerPayment).where(
                    LedgerPayment.coop_id == coop_id, LedgerPayment.payment_ref == payment_ref))
                if payment is None:
                    raise LedgerError(f"no payment {payment_ref} in this co-op's ledger")
                raise LedgerError(f"cannot reverse {amount}: {payment.amount - payment.reversed} of "
                                  f"{payment_ref} left")
            currency = session.scalar(select(LedgerPayment.currency).where(
                LedgerPayment.coop_id == coop_id, LedgerPayment.payment_ref == payment_ref))
            original, clawed = _original(session, coop_id, payment_ref)
            part = splits.clawback(amount, original, clawed)
            for key, taken in part.items():
                session.add(_entry(coop_id, payment_ref, "clawback", key, -taken, currency, at,
                                   f"{base}:{key or 'platform'}", ref=f"{kind}:{ref}"))
            session.flush()
    except IntegrityError:  # the same reversal, recorded concurrently first: its savepoint undone
        return None
    return part


def _transfer(session, kind, coop_id, artist_id, amount, currency, ref, occurred_at) -> bool:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise LedgerError("a transfer is a positive integer amount in minor units")
    signed = -amount if kind == "transfer" else amount
    try:
        with session.begin_nested():
            session.add(_entry(coop_id, None, kind, str(artist_id), signed, currency.lower(), _now(occurred_at),
                               f"{coop_id}:{kind}:{ref}", ref=ref))
            session.flush()
    except IntegrityError:
        return False
    return True


def record_transfer(session: Session, *, coop_id: uuid.UUID, artist_id: uuid.UUID, amount: int, currency: str,
                    ref: str, occurred_at: datetime | None = None) -> bool:
    """Money paid out to a member (``ref``: the provider's transfer id). ``False`` when already
    recorded. The caller decides the amount from :func:`balances` (payouts run in one job)."""
    return _transfer(session, "transfer", coop_id, artist_id, amount, currency, ref, occurred_at)


def record_transfer_reversal(session: Session, *, coop_id: uuid.UUID, artist_id: uuid.UUID, amount: int,
                             currency: str, ref: str, occurred_at: datetime | None = None) -> bool:
    """A payout that came back (``ref``: the reversal's id): the member's balance again."""
    return _transfer(session, "transfer_reversal", coop_id, artist_id, amount, currency, ref, occurred_at)


def balances(session: Session, coop_id: uuid.UUID) -> dict[str, dict[str, int]]:
    """``{artist_id: {currency: balance}}`` of every member who ever had an entry (a member who
    left keeps theirs): shares - clawbacks - transfers + transfer reversals."""
    rows = session.execute(select(LedgerEntry.artist_id, LedgerEntry.currency, func.sum(LedgerEntry.amount))
                           .where(LedgerEntry.coop_id == coop_id, LedgerEntry.artist_id.is_not(None))
                           .group_by(LedgerEntry.artist_id, LedgerEntry.currency)).all()
    out: dict[str, dict[str, int]] = {}
    for artist, currency, total in rows:
        out.setdefault(str(artist), {})[currency] = int(total or 0)
    return out


def check_balanced(session: Session, coop_id: uuid.UUID) -> list[str]:
    """Every way the co-op's ledger fails to balance (empty: it balances). Per payment: fee +
    shares == paid, clawbacks == the recorded reversed total, no share or fee clawed back beyond
    itself, one currency; over the co-op: the sum of all entries == paid - reversed - transfers +
    transfer reversals."""
    problems: list[str] = []
    payments = session.scalars(select(LedgerPayment).where(LedgerPayment.coop_id == coop_id)).all()
    entries = session.scalars(select(LedgerEntry).where(LedgerEntry.coop_id == coop_id)).all()
    by_payment: dict[str, list[LedgerEntry]] = {}
    for e in entries:
        if e.payment_ref is not None:
            by_payment.setdefault(e.payment_ref, []).append(e)
        elif e.kind not in ("transfer", "transfer_reversal"):
            problems.append(f"{e.kind} entry {e.id} belongs to no payment")
    known = {p.payment_ref for p in payments}
    for ref in sorted(set(by_payment) - known):
        problems.append(f"entries for an unrecorded payment {ref}")
    expected_total: dict[str, int] = {}
    for p in payments:
        rows = by_payment.get(p.payment_ref, [])
        given = sum(e.amount for e in rows if e.kind in ("share", "fee"))
        taken = -sum(e.amount for e in rows if e.kind == "clawback")
        if given != p.amount:
            problems.append(f"{p.payment_ref}: fee + shares = {given}, paid {p.amount}")
        if sum(e.amount for e in rows if e.kind == "fee") != p.fee:
            problems.append(f"{p.payment_ref}: fee entries differ from the fee {p.fee}")
        if taken != p.reversed:
            problems.append(f"{p.payment_ref}: clawed back {taken}, reversed {p.reversed}")
        per: dict[Any, int] = {}
        for e in rows:
            if e.kind in ("share", "fee", "clawback"):
                per[e.artist_id] = per.get(e.artist_id, 0) + e.amount
        problems += [f"{p.payment_ref}: {k or 'the platform'} clawed back beyond its share"
                     for k, v in per.items() if v < 0]
        if any(e.currency != p.currency for e in rows):
            problems.append(f"{p.payment_ref}: entries in another currency than {p.currency}")
        expected_total[p.currency] = expected_total.get(p.currency, 0) + p.amount - p.reversed
    for e in entries:
        if e.kind in ("transfer", "transfer_reversal"):
            expected_total[e.currency] = expected_total.get(e.currency, 0) + e.amount
    actual: dict[str, int] = {}
    for e in entries:
        actual[e.currency] = actual.get(e.currency, 0) + e.amount
    for cur in sorted(set(actual) | set(expected_total)):
        if actual.get(cur, 0) != expected_total.get(cur, 0):
            problems.append(f"{cur}: entries sum to {actual.get(cur, 0)}, expected {expected_total.get(cur, 0)}")
    return problems


def fan_plays(session: Session, fan_id: uuid.UUID, artist_ids: Iterable[uuid.UUID], start: datetime,
              end: datetime) -> dict[str, int]:
    """The fan's counted plays (``play.counted`` domain events) of each of ``artist_ids`` in
    ``[start, end)``: the listening a fan-centric split follows."""
    ids = [uuid.UUID(str(a)) for a in artist_ids]
    rows = session.execute(select(DomainEvent.artist_id, func.count()).where(
        DomainEvent.type == "play.counted", DomainEvent.actor_id == fan_id, DomainEvent.artist_id.in_(ids),
        DomainEvent.occurred_at >= start, DomainEvent.occurred_at < end).group_by(DomainEvent.artist_id)).all()
    return {str(a): int(n) for a, n in rows}
