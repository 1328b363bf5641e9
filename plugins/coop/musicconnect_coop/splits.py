"""Co-op revenue splits: pure arithmetic, no database (issue 21, docs/coop.md "Money").

Every amount is an integer number of minor units (cents); nothing here uses floats. Exact shares
are rationals (``amount * weight / total_weight``) and are rounded with the largest remainder
(Hamilton) method: floor every exact share, then hand the units still missing one by one to the
largest fractional remainders, ties broken by the key (the artist id as a string) in string order.
The result always sums to the amount, and is the same for the same input whatever the order of
the mappings.

* ``validate_rule(rule, members)``: a split rule, ``{"kind": "fixed", "shares": {id: bp}}`` or
  ``{"kind": "fan_centric", "min_share_bp": n}``, checked against the active members; returns it
  normalised or raises ``SplitRuleError``.
* ``largest_remainder(amount, weights)``: the rounding rule itself.
* ``fan_centric_weights(plays, members, min_share_bp)``: each member's (integer) weight for a fan
  whose counted plays of the members are ``plays``.
* ``split_payment(paid, fee, rule, members, plays)``: the members' shares of ``paid - fee``.
* ``clawback(amount, original, clawed)``: a refund or dispute spread over the original shares,
  never more than what is left of one.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["BP", "SplitRuleError", "SplitError", "validate_rule", "largest_remainder", "fan_centric_weights",
           "rule_weights", "split_payment", "clawback"]

#: basis points in a whole
BP = 10_000
KINDS = ("fixed", "fan_centric")


class SplitRuleError(ValueError):
    """An invalid split rule (the API answers 422 ``coop-invalid-split``)."""

    slug = "coop-invalid-split"


class SplitError(ValueError):
    """Amounts that cannot be split (a negative amount, a fee above the payment, a refund above
    what is left)."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _members(members: Iterable[Any]) -> list[str]:
    ids = sorted({str(m) for m in members})
    if not ids:
        raise SplitRuleError("a split needs at least one member")
    return ids


def validate_rule(rule: Any, members: Iterable[Any]) -> dict[str, Any]:
    """The rule, normalised (artist ids as strings), if it is valid for these active members.

    * fixed: ``shares`` maps every active member (and nobody else) to basis points (integers
      0..10000) summing to 10000;
    * fan_centric: ``min_share_bp`` an integer 0..10000 // number of members (so the minimums
      never exceed the whole).
    """
    ids = _members(members)
    if not isinstance(rule, Mapping):
        raise SplitRuleError("a split rule is an object")
    kind = rule.get("kind")
    if kind == "fixed":
        if set(rule) - {"kind", "shares"}:
            raise SplitRuleError(f"unknown fields: {', '.join(sorted(set(rule) - {'kind', 'shares'}))}")
        shares = rule.get("shares")
        if not isinstance(shares, Mapping):
            raise SplitRuleError("shares must map artist ids to basis points")
        shares = {str(k): v for k, v in shares.items()}
        if set(shares) != set(ids):
            missing, extra = set(ids) - set(shares), set(shares) - set(ids)
            raise SplitRuleError("shares must name every active member and nobody else"
                                 + (f"; missing: {', '.join(sorted(missing))}" if missing else "")
                                 + (f"; not members: {', '.join(sorted(extra))}" if extra else ""))
        if not all(_is_int(v) and 0 <= v <= BP for v in shares.values()):
            raise SplitRuleError("every share is an integer number of basis points between 0 and 10000")
        if sum(shares.values()) != BP:
            raise SplitRuleError(f"shares must sum to 10000 basis points, not {sum(shares.values())}")
        return {"kind": "fixed", "shares": {k: shares[k] for k in sorted(shares)}}
    if kind == "fan_centric":
        if set(rule) - {"kind", "min_share_bp"}:
            raise SplitRuleError(f"unknown fields: {', '.join(sorted(set(rule) - {'kind', 'min_share_bp'}))}")
        minimum = rule.get("min_share_bp", 0)
        limit = BP // len(ids)
        if not _is_int(minimum) or not 0 <= minimum <= limit:
            raise SplitRuleError(f"min_share_bp must be an integer between 0 and {limit} for {len(ids)} members")
        return {"kind": "fan_centric", "min_share_bp": minimum}
    raise SplitRuleError(f"kind must be one of {', '.join(KINDS)}")


def largest_remainder(amount: int, weights: Mapping[Any, int]) -> dict[str, int]:
    """Split ``amount`` (a non-negative integer) in proportion to integer ``weights`` by the
    largest remainder method; keys are returned as strings, ties go to the smaller key in string
    order. Every weight must be >= 0 and at least one > 0 (unless the amount is 0)."""
    if not _is_int(amount) or amount < 0:
        raise SplitError(f"the amount to split must be a non-negative integer, not {amount!r}")
    w = {str(k): v for k, v in weights.items()}
    if len(w) != len(weights):
        raise SplitError("two weights have the same key")
    if not all(_is_int(v) and v >= 0 for v in w.values()):
        raise SplitError("weights must be non-negative integers")
    total = sum(w.values())
    if total == 0:
        if amount == 0:
            return {k: 0 for k in w}
        raise SplitError("cannot split a positive amount over zero weights")
    out: dict[str, int] = {}
    remainders: list[tuple[int, str]] = []
    for key, weight in w.items():
        whole, rest = divmod(amount * weight, total)
        out[key] = whole
        remainders.append((-rest, key))
    missing = amount - sum(out.values())  # < number of keys
    for _, key in sorted(remainders)[:missing]:
        out[key] += 1
    return {k: out[k] for k in sorted(out)}


def fan_centric_weights(plays: Mapping[Any, int] | None, members: Iterable[Any], min_share_bp: int
                        ) -> dict[str, int]:
    """Integer weights, one per member, for one fan: every member is guaranteed ``min_share_bp``
    and the rest (10000 - n * min) follows the fan's listening share (counted plays of the members
    in the period; plays of non-members are ignored). No listening at all: equal weights.

    With P the fan's plays of the members, member i weighs ``min * P + (10000 - n * min) * p_i``
    (the exact share in basis points, times P: no rounding before the final split)."""
    ids = _members(members)
    if not _is_int(min_share_bp) or not 0 <= min_share_bp <= BP // len(ids):
        raise SplitError("min_share_bp out of range for this many members")
    counts = {k: 0 for k in ids}
    for key, n in (plays or {}).items():
        key = str(key)
        if key in counts:
            if not _is_int(n) or n < 0:
                raise SplitError("play counts must be non-negative integers")
            counts[key] += n
    total = sum(counts.values())
    if total == 0:
        return {k: 1 for k in ids}
    rest = BP - len(ids) * min_share_bp
    return {k: min_share_bp * total + rest * counts[k] for k in ids}


def rule_weights(rule: Mapping[str, Any], members: Iterable[Any], plays: Mapping[Any, int] | None = None
                 ) -> dict[str, int]:
    """The weights of a (validated) rule for one payment."""
    rule = validate_rule(rule, members)
    if rule["kind"] == "fixed":
        return dict(rule["shares"])
    return fan_centric_weights(plays, members, rule["min_share_bp"])


def split_payment(paid: int, fee: int, rule: Mapping[str, Any], members: Iterable[Any],
                  plays: Mapping[Any, int] | None = None) -> dict[str, int]:
    """Each member's share (minor units) of a payment of ``paid`` from which the platform ``fee``
    is taken first: the shares always sum to ``paid - fee`` exactly."""
    if not _is_int(paid) or not _is_int(fee) or paid < 0 or not 0 <= fee <= paid:
        raise SplitError(f"need 0 <= fee ({fee!r}) <= paid ({paid!r}) in integer minor units")
    return largest_remainder(paid - fee, rule_weights(rule, members, plays))


def clawback(amount: int, original: Mapping[Any, int], clawed: Mapping[Any, int] | None = None) -> dict[str, int]:
    """Spread a refund or dispute of ``amount`` over the ``original`` shares of a payment (the
    platform fee included as one of them, under its own key) by the largest remainder, given what
    was ``clawed`` back from each already.

    No share ever gives back more than is left of it: a part that would exceed what is left goes,
    again by the largest remainder over the original shares, to the shares that still have room.
    So the sum is always ``amount``, and refunds adding up to the whole payment give back exactly
    every share. Raises ``SplitError`` if ``amount`` is more than what is left in total."""
    orig = {str(k): v for k, v in original.items()}
    done = {k: 0 for k in orig}
    for k, v in (clawed or {}).items():
        if str(k) not in done:
            raise SplitError(f"{k} had no share in this payment")
        done[str(k)] = v
    if not all(_is_int(v) and v >= 0 for v in orig.values()) or not all(_is_int(v) and v >= 0 for v in done.values()):
        raise SplitError("shares and clawbacks are non-negative integers")
    left = {k: orig[k] - done[k] for k in orig}
    if any(v < 0 for v in left.values()):
        raise SplitError("a share was clawed back beyond itself")
    if not _is_int(amount) or amount < 0 or amount > sum(left.values()):
        raise SplitError(f"cannot claw back {amount!r}: {sum(left.values())} left of the payment")
    out = {k: 0 for k in orig}
    pending = amount
    while pending:
        room = {k: orig[k] for k in orig if left[k] - out[k] > 0}
        step = largest_remainder(pending, room)
        pending = 0
        for k, v in step.items():
            take = min(v, left[k] - out[k])
            out[k] += take
            pending += v - take
    return {k: out[k] for k in sorted(out)}
