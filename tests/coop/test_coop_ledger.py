"""The co-op ledger in the database: idempotent payments and reversals (also under concurrency),
partial then full refunds, disputes, transfers, balances and the balance invariant."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from musicconnect.testing import concurrently, make_user
from musicconnect_coop import ledger
from musicconnect_coop.ledger_models import LedgerEntry, LedgerPayment
from musicconnect_coop.models import Coop
from sqlalchemy import func, select

pytestmark = pytest.mark.mc_plugins("coop")


@pytest.fixture
def world(mc_platform, mc_clock):
    platform = mc_platform
    account = make_user(platform, "artist", artist_name="The Co-op")
    members = sorted((make_user(platform, "artist", artist_name=f"M{i}").artist_id for i in range(3)), key=str)
    coop_id = uuid.uuid4()
    with platform.session() as s:
        s.add(Coop(id=coop_id, artist_id=account.artist_id, name="The Co-op", slug=f"c-{coop_id.hex[:8]}",
                   description="", status="active", rules={"quorum": "majority", "notice_days": 0, "vote_days": 1},
                   created_at=mc_clock.now()))
    return platform, coop_id, [str(m) for m in members]


EQUAL = {"kind": "fan_centric", "min_share_bp": 0}


def pay(platform, coop_id, members, ref="sandbox:pi_1", amount=1000, fee=100, rule=EQUAL, plays=None):
    with platform.session() as s:
        return ledger.record_payment(s, coop_id=coop_id, payment_ref=ref, amount=amount, fee=fee, currency="EUR",
                                     rule=rule, members=members, plays=plays)


def reverse(platform, coop_id, ref, amount, kind="refund", payment="sandbox:pi_1"):
    with platform.session() as s:
        return ledger.record_reversal(s, coop_id=coop_id, payment_ref=payment, ref=ref, amount=amount, kind=kind)


def check(platform, coop_id):
    with platform.session() as s:
        return ledger.check_balanced(s, coop_id), ledger.balances(s, coop_id)


def test_payment_is_split_and_recorded_once(world):
    platform, coop_id, (a, b, c) = world
    got = pay(platform, coop_id, [c, a, b], amount=1100, fee=100)
    assert got == {ledger.PLATFORM: 100, a: 334, b: 333, c: 333}
    assert pay(platform, coop_id, [c, a, b], amount=1100, fee=100) is None  # the same payment again
    problems, bal = check(platform, coop_id)
    assert problems == []
    assert bal == {a: {"eur": 334}, b: {"eur": 333}, c: {"eur": 333}}
    with platform.session() as s:
        assert s.scalar(select(func.count()).select_from(LedgerPayment)) == 1
        assert s.scalar(select(func.count()).select_from(LedgerEntry)) == 4


def test_bad_amounts_record_nothing(world):
    platform, coop_id, members = world
    with pytest.raises(ValueError):
        pay(platform, coop_id, members, amount=100, fee=101)
    with pytest.raises(ValueError):
        pay(platform, coop_id, members, rule={"kind": "fixed", "shares": {members[0]: 10000}})
    with platform.session() as s:
        assert s.scalar(select(func.count()).select_from(LedgerEntry)) == 0


def test_concurrent_recording_of_one_payment_records_it_once(world):
    platform, coop_id, members = world
    results = concurrently(8, lambda i: pay(platform, coop_id, members, amount=999, fee=0))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r is not None for r in results) == 1
    problems, bal = check(platform, coop_id)
    assert problems == []
    assert sum(v["eur"] for v in bal.values()) == 999
    with platform.session() as s:
        assert s.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.kind == "share")) == 3


def test_partial_then_full_refund_returns_every_share(world):
    platform, coop_id, (a, b, c) = world
    rule = {"kind": "fixed", "shares": {a: 5000, b: 3000, c: 2000}}
    shares = pay(platform, coop_id, [a, b, c], amount=1000, fee=101, rule=rule)
    assert shares == {ledger.PLATFORM: 101, a: 449, b: 270, c: 180}  # 449.5, 269.7, 179.8
    first = reverse(platform, coop_id, "re_1", 333)
    assert sum(first.values()) == 333
    assert reverse(platform, coop_id, "re_1", 333) is None  # the same refund again
    problems, bal = check(platform, coop_id)
    assert problems == []
    assert bal[a]["eur"] == 449 - first[a]
    dispute = reverse(platform, coop_id, "dp_1", 600, kind="dispute")
    assert sum(dispute.values()) == 600
    with pytest.raises(ledger.LedgerError):
        reverse(platform, coop_id, "re_2", 68)  # 67 left
    last = reverse(platform, coop_id, "re_2", 67)
    assert {k: first[k] + dispute[k] + last[k] for k in shares} == shares
    problems, bal = check(platform, coop_id)
    assert problems == []
    assert bal == {a: {"eur": 0}, b: {"eur": 0}, c: {"eur": 0}}
    with pytest.raises(ledger.LedgerError):
        reverse(platform, coop_id, "re_3", 1)
    with pytest.raises(ledger.LedgerError):
        reverse(platform, coop_id, "re_4", 1, payment="sandbox:unknown")


def test_concurrent_reversals_never_exceed_the_payment(world):
    platform, coop_id, members = world
    pay(platform, coop_id, members, amount=1000, fee=100)
    # 8 different refunds of 300 race: only three fit in 1000
    results = concurrently(8, lambda i: reverse(platform, coop_id, f"re_{i}", 300))
    ok = [r for r in results if isinstance(r, dict)]
    assert len(ok) == 3 and all(isinstance(r, ledger.LedgerError) for r in results if not isinstance(r, dict))
    # the same refund from 8 threads: recorded once
    results = concurrently(8, lambda i: reverse(platform, coop_id, "re_same", 50))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r is not None for r in results) == 1
    problems, bal = check(platform, coop_id)
    assert problems == []
    with platform.session() as s:
        assert s.scalar(select(LedgerPayment.reversed)) == 950
    assert sum(v["eur"] for v in bal.values()) == 900 - (950 - 95)  # the platform gave back its 10 %


def test_transfers_and_reversals_move_balances_and_a_left_member_keeps_earnings(world):
    platform, coop_id, (a, b, c) = world
    pay(platform, coop_id, [a, b, c], ref="sandbox:pi_1", amount=300, fee=0)
    pay(platform, coop_id, [a, b], ref="sandbox:pi_2", amount=300, fee=0)  # c left before this invoice
    with platform.session() as s:
        assert ledger.record_transfer(s, coop_id=coop_id, artist_id=uuid.UUID(a), amount=150, currency="eur",
                                      ref="tr_1")
        assert not ledger.record_transfer(s, coop_id=coop_id, artist_id=uuid.UUID(a), amount=150, currency="eur",
                                          ref="tr_1")
    with platform.session() as s:
        assert ledger.record_transfer_reversal(s, coop_id=coop_id, artist_id=uuid.UUID(a), amount=150,
                                               currency="eur", ref="trr_1")
        assert ledger.record_transfer(s, coop_id=coop_id, artist_id=uuid.UUID(b), amount=200, currency="eur",
                                      ref="tr_2")
    problems, bal = check(platform, coop_id)
    assert problems == []
    assert bal == {a: {"eur": 250}, b: {"eur": 50}, c: {"eur": 100}}


def test_fan_centric_payment_follows_counted_plays(world, mc_clock):
    platform, coop_id, (a, b, c) = world
    fan = make_user(platform, "fan")
    start = mc_clock.now()
    with platform.session() as s:
        for artist, n in ((a, 3), (b, 1)):
            for _ in range(n):
                platform.emit(s, "play.counted", actor_id=fan.id, artist_id=uuid.UUID(artist))
        platform.emit(s, "play.counted", actor_id=fan.id, artist_id=None)
    with platform.session() as s:
        plays = ledger.fan_plays(s, fan.id, [a, b, c], start, start + timedelta(days=30))
    assert plays == {a: 3, b: 1}
    got = pay(platform, coop_id, [a, b, c], amount=1000, fee=0,
              rule={"kind": "fan_centric", "min_share_bp": 1000}, plays=plays)
    assert got == {ledger.PLATFORM: 0, a: 100 + 525, b: 100 + 175, c: 100}


def test_check_balanced_finds_a_tampered_entry(world):
    platform, coop_id, (a, b, c) = world
    pay(platform, coop_id, [a, b, c])
    with platform.session() as s:
        row = s.scalar(select(LedgerEntry).where(LedgerEntry.kind == "share").limit(1))
        row.amount += 1
    problems, _ = check(platform, coop_id)
    assert any("fee + shares" in p for p in problems)
