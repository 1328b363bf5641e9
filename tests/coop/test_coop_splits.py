"""Co-op splits: the pure arithmetic (largest remainder, fixed and fan-centric rules, clawbacks)."""
from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from musicconnect_coop import splits
from musicconnect_coop.splits import SplitError, SplitRuleError

A, B, C = "a-artist", "b-artist", "c-artist"


# ------------------------------------------------------------------ exact examples

def test_thousand_cents_over_three_equal_members_ties_by_artist_id():
    rule = {"kind": "fixed", "shares": {C: 3334, B: 3333, A: 3333}}
    # 3334/3333/3333 bp of 1000: 333.4 / 333.3 / 333.3 -> c gets 333 + the largest remainder
    assert splits.split_payment(1000, 0, rule, [A, B, C]) == {A: 333, B: 333, C: 334}
    # truly equal weights: the tie goes to the smallest artist id
    assert splits.largest_remainder(1000, {C: 1, B: 1, A: 1}) == {A: 334, B: 333, C: 333}
    assert splits.split_payment(1000, 0, {"kind": "fan_centric", "min_share_bp": 0}, [C, A, B]) == \
        {A: 334, B: 333, C: 333}


def test_fee_is_taken_first():
    rule = {"kind": "fixed", "shares": {A: 5000, B: 5000}}
    assert splits.split_payment(1000, 101, rule, [A, B]) == {A: 450, B: 449}
    assert splits.split_payment(1000, 1000, rule, [A, B]) == {A: 0, B: 0}
    with pytest.raises(SplitError):
        splits.split_payment(1000, 1001, rule, [A, B])
    with pytest.raises(SplitError):
        splits.split_payment(1000, -1, rule, [A, B])


def test_fan_centric_follows_listening_with_a_minimum_share():
    rule = {"kind": "fan_centric", "min_share_bp": 1000}
    # 9 plays of A, 1 of B, none of C: C still gets its 10 %, the other 70 % follow the plays
    got = splits.split_payment(10_000, 0, rule, [A, B, C], {A: 9, B: 1})
    assert got == {A: 1000 + 6300, B: 1000 + 700, C: 1000}
    # without a minimum C gets nothing
    assert splits.split_payment(10_000, 0, {"kind": "fan_centric", "min_share_bp": 0}, [A, B, C],
                                {A: 9, B: 1}) == {A: 9000, B: 1000, C: 0}
    # plays of a non-member do not count
    assert splits.split_payment(100, 0, {"kind": "fan_centric", "min_share_bp": 0}, [A, B],
                                {A: 1, "someone-else": 50}) == {A: 100, B: 0}


def test_fan_without_listening_is_split_equally():
    rule = {"kind": "fan_centric", "min_share_bp": 500}
    assert splits.split_payment(999, 0, rule, [A, B, C], {}) == {A: 333, B: 333, C: 333}
    assert splits.split_payment(1000, 0, rule, [A, B, C], None) == {A: 334, B: 333, C: 333}


def test_validate_rule():
    assert splits.validate_rule({"kind": "fixed", "shares": {B: 4000, A: 6000}}, [A, B]) == \
        {"kind": "fixed", "shares": {A: 6000, B: 4000}}
    assert splits.validate_rule({"kind": "fan_centric", "min_share_bp": 3333}, [A, B, C])["min_share_bp"] == 3333
    bad = [
        ({"kind": "fixed", "shares": {A: 6000, B: 3000}}, [A, B]),          # sum 9000
        ({"kind": "fixed", "shares": {A: 10000}}, [A, B]),                  # B missing
        ({"kind": "fixed", "shares": {A: 5000, B: 4000, C: 1000}}, [A, B]),  # C not a member
        ({"kind": "fixed", "shares": {A: 5000.0, B: 5000}}, [A, B]),        # a float
        ({"kind": "fixed", "shares": {A: 11000, B: -1000}}, [A, B]),        # out of range
        ({"kind": "fixed", "shares": {A: True, B: 9999}}, [A, B]),          # a bool is not a count
        ({"kind": "fan_centric", "min_share_bp": 3334}, [A, B, C]),         # minimums above the whole
        ({"kind": "fan_centric", "min_share_bp": -1}, [A, B]),
        ({"kind": "fan_centric", "min_share_bp": 10, "extra": 1}, [A, B]),
        ({"kind": "pro_rata"}, [A, B]),
        ([], [A, B]),
        ({"kind": "fan_centric"}, []),                                      # no members
    ]
    for rule, members in bad:
        with pytest.raises(SplitRuleError):
            splits.validate_rule(rule, members)


def test_clawback_partial_then_full_returns_every_share():
    original = {"platform": 100, A: 450, B: 450}
    first = splits.clawback(333, original)
    assert sum(first.values()) == 333
    assert first == {"platform": 33, A: 150, B: 150}
    second = splits.clawback(667, original, first)
    assert {k: first[k] + second[k] for k in original} == original
    with pytest.raises(SplitError):
        splits.clawback(1, original, {k: original[k] for k in original})


def test_clawback_never_takes_more_than_is_left():
    # after uneven earlier clawbacks, the proportional part of A exceeds what A has left
    original = {A: 10, B: 10}
    got = splits.clawback(6, original, {A: 8, B: 0})
    assert got == {A: 2, B: 4}


# ------------------------------------------------------------------ properties

ids = st.lists(st.uuids().map(str), min_size=1, max_size=8, unique=True)


@st.composite
def invoices(draw):
    members = draw(ids)
    paid = draw(st.integers(0, 10**9))
    fee = draw(st.integers(0, paid))
    if draw(st.booleans()):
        cuts = sorted(draw(st.lists(st.integers(0, splits.BP), min_size=len(members) - 1,
                                    max_size=len(members) - 1)))
        bps = [b - a for a, b in zip([0, *cuts], [*cuts, splits.BP])]
        rule = {"kind": "fixed", "shares": dict(zip(members, bps))}
        plays = None
    else:
        rule = {"kind": "fan_centric", "min_share_bp": draw(st.integers(0, splits.BP // len(members)))}
        plays = draw(st.dictionaries(st.sampled_from(members), st.integers(0, 10**6)))
    return members, paid, fee, rule, plays


@settings(max_examples=300, deadline=None)
@given(invoices(), st.randoms(use_true_random=False))
def test_shares_sum_to_paid_minus_fee_deterministically(invoice, rnd):
    members, paid, fee, rule, plays = invoice
    got = splits.split_payment(paid, fee, rule, members, plays)
    assert sum(got.values()) == paid - fee
    assert all(v >= 0 for v in got.values()) and set(got) == set(members)
    # same input in another order: the same split
    shuffled = members[:]
    rnd.shuffle(shuffled)
    rule2 = dict(rule)
    if rule["kind"] == "fixed":
        rule2["shares"] = dict(sorted(rule["shares"].items(), key=lambda kv: rnd.random()))
    plays2 = dict(sorted((plays or {}).items(), key=lambda kv: rnd.random())) if plays is not None else None
    assert splits.split_payment(paid, fee, rule2, shuffled, plays2) == got
    if rule["kind"] == "fan_centric":
        # every member gets at least its minimum share (floored to the cent)
        net = paid - fee
        assert all(v >= net * rule["min_share_bp"] // splits.BP for v in got.values())
    else:
        # each share is within one cent of its exact value
        net = paid - fee
        assert all(abs(got[m] * splits.BP - net * rule["shares"][m]) < splits.BP for m in members)


@settings(max_examples=300, deadline=None)
@given(invoices(), st.lists(st.integers(1, 10**9), max_size=6), st.booleans())
def test_refunds_and_disputes_claw_back_within_shares_and_in_full(invoice, wanted, finish):
    members, paid, fee, rule, plays = invoice
    shares = splits.split_payment(paid, fee, rule, members, plays)
    original = {"platform": fee, **shares}
    clawed = {k: 0 for k in original}
    refunded = 0
    for want in wanted:
        amount = min(want, paid - refunded)
        part = splits.clawback(amount, original, clawed)
        assert sum(part.values()) == amount and all(v >= 0 for v in part.values())
        clawed = {k: clawed[k] + part[k] for k in original}
        refunded += amount
        assert all(clawed[k] <= original[k] for k in original)
    if finish:
        part = splits.clawback(paid - refunded, original, clawed)
        clawed = {k: clawed[k] + part[k] for k in original}
        assert clawed == original


@settings(max_examples=100, deadline=None)
@given(st.lists(invoices(), min_size=1, max_size=5), st.data())
def test_a_coop_ledger_of_many_invoices_balances(invoice_list, data):
    """Member changes between invoices (each invoice has its own members), partial refunds and
    disputes: what the members hold plus the fees equals what was paid minus what was reversed."""
    balances: dict[str, int] = {}
    fees = paid_total = reversed_total = 0
    for members, paid, fee, rule, plays in invoice_list:
        shares = splits.split_payment(paid, fee, rule, members, plays)
        original = {"": fee, **shares}
        paid_total += paid
        clawed = {k: 0 for k in original}
        for _ in range(data.draw(st.integers(0, 3))):
            left = paid - sum(clawed.values())
            amount = data.draw(st.integers(0, left))
            part = splits.clawback(amount, original, clawed)
            clawed = {k: clawed[k] + part[k] for k in original}
            reversed_total += amount
        fees += fee - clawed[""]
        for m in shares:
            balances[m] = balances.get(m, 0) + shares[m] - clawed[m]
    assert all(v >= 0 for v in balances.values())
    assert sum(balances.values()) + fees == paid_total - reversed_total


def test_largest_remainder_is_independent_of_order():
    rng = random.Random(7)
    for _ in range(200):
        weights = {f"m{i}": rng.randint(0, 50) for i in range(rng.randint(1, 8))}
        if not any(weights.values()):
            continue
        amount = rng.randint(0, 10_000)
        items = list(weights.items())
        rng.shuffle(items)
        assert splits.largest_remainder(amount, dict(items)) == splits.largest_remainder(amount, weights)
