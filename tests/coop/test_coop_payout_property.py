"""Property: random invoices, partial refunds and disputes, and member changes between invoices,
recorded THROUGH the real payment contract (``record_payment`` -> ``revenue_shares`` (a random
platform fee) -> ``distribute_net`` (the co-op) -> ``payment.succeeded`` -> the ledger -> the
payout job -> a fake provider's transfers and reversals): for every payment the members' shares
sum to paid - fees to the cent, the ledger always balances, clawbacks never exceed shares, a full
refund returns every cent, and after the payouts every member's balance is zero."""
from __future__ import annotations

import threading
import uuid

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

import musicconnect_coop.plugin as coop_plugin
from musicconnect import Actor, PaymentEvent, Problem, RevenueShare, hookimpl
from musicconnect.models import DomainEvent
from musicconnect.testing import make_user
from musicconnect_coop import governance as g
from musicconnect_coop import ledger
from musicconnect_coop.ledger_models import LedgerEntry, LedgerPayment


class FakePay:
    """A provider that moves money in memory, idempotent by key, refusing over-reversal."""

    id, label = "fakepay", "Fake pay"

    def __init__(self):
        self.lock = threading.Lock()
        self.transfers: dict[str, dict] = {}
        self.by_key: dict[str, dict] = {}

    def transfer(self, platform, *, artist_id, amount, currency, source_ref, idempotency_key, metadata=None):
        with self.lock:
            if idempotency_key in self.by_key:
                return self.by_key[idempotency_key]
            tr = {"id": f"tr_{len(self.transfers)}", "status": "paid", "amount": amount, "reversed": 0,
                  "artist": str(artist_id)}
            self.transfers[tr["id"]] = tr
            self.by_key[idempotency_key] = tr
            return tr

    def reverse_transfer(self, platform, *, transfer_id, amount, idempotency_key):
        with self.lock:
            if idempotency_key in self.by_key:
                return self.by_key[idempotency_key]
            tr = self.transfers[transfer_id]
            if tr["reversed"] + amount > tr["amount"]:
                raise Problem(409, "transfer-over-reversed", "too much")
            tr["reversed"] += amount
            out = {"id": f"trr_{len(self.by_key)}", "status": "succeeded", "amount": amount}
            self.by_key[idempotency_key] = out
            return out


class fees:
    bp = 1000
    pay = FakePay()

    @staticmethod
    @hookimpl
    def revenue_shares(platform, artist_id, amount, currency, payment):
        return [RevenueShare("platform", amount * fees.bp // 10000, "fee")]

    @staticmethod
    @hookimpl
    def register_payment_providers(platform):
        return [fees.pay]


@pytest.fixture
def world(mc_make_platform):
    p = mc_make_platform(extra_plugins=[("coop", coop_plugin), ("fees", fees)], entry_points=False)
    artists = [make_user(p, "artist", artist_name=f"A{i}") for i in range(6)]
    fans = [make_user(p, "fan") for _ in range(3)]
    p.jobs.start_worker(threads=1)
    yield p, artists, fans
    p.jobs.stop()


def _actor(user):
    return Actor(user_id=user.id, role="artist", artist_id=user.artist_id, scopes=frozenset({"coop:write"}))


def _settle(p):
    from musicconnect.models import Job

    try:
        p.jobs.wait_idle(timeout=20)
    except Exception:
        with p.read() as s:
            stuck = [(j.actor, j.state, j.attempts, j.message, j.args) for j in s.scalars(select(Job).where(
                Job.state.in_(("queued", "running"))))]
        raise AssertionError(f"jobs stuck: {stuck}") from None


step = st.one_of(
    st.tuples(st.just("pay"), st.integers(0, 50_000), st.integers(0, 2), st.integers(0, 5)),
    st.tuples(st.just("refund"), st.integers(0, 30), st.integers(1, 100), st.sampled_from(["refund", "dispute"])),
    st.tuples(st.just("join"), st.integers(0, 5)),
    st.tuples(st.just("leave"), st.integers(0, 5)),
)


@settings(max_examples=25, deadline=None, phases=[Phase.explicit, Phase.generate], suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(fee_bp=st.integers(0, 3000), fixed=st.booleans(), min_bp=st.integers(0, 2000),
       steps=st.lists(step, min_size=1, max_size=10))
def test_shares_always_sum_to_paid_less_fees_and_the_ledger_balances(world, fee_bp, fixed, min_bp, steps):
    p, artists, fans = world
    fees.bp = fee_bp
    founder = artists[0]
    with p.session() as s:
        coop = g.create_coop(p, s, _actor(founder), name=f"Prop {uuid.uuid4().hex[:6]}", description="",
                             rules={"quorum": "majority", "notice_days": 0, "vote_days": 1})
        coop_id, seller = coop.id, coop.artist_id
    members = {founder.artist_id}

    def set_split():
        ids = sorted(str(a) for a in members)
        if fixed:
            base = 10000 // len(ids)
            rule = {"kind": "fixed", "shares": {a: base + (10000 - base * len(ids) if i == 0 else 0)
                                                 for i, a in enumerate(ids)}}
        else:
            rule = {"kind": "fan_centric", "min_share_bp": min(min_bp, 10000 // len(ids))}
        with p.session() as s:
            g._add_version(p, s, coop_id, "split", rule)

    set_split()
    paid: list[tuple[str, int, int]] = []
    n = 0
    for op in steps:
        n += 1
        if op[0] == "pay":
            _, amount, fan_i, plays = op
            fan = fans[fan_i]
            now = p.clock.now()
            with p.session() as s:
                for a in sorted(members)[: plays]:  # some listening in the period
                    s.add(DomainEvent(id=uuid.uuid4(), type="play.counted", occurred_at=now, actor_id=fan.id,
                                      artist_id=a, subject_type="content", subject_id="x", data={}))
            ext = f"inv_{coop_id.hex[:8]}_{n}"
            with p.session() as s:
                p.payments.record_payment(s, provider="fakepay", external_id=ext, user_id=fan.id, artist_id=seller,
                                          amount=amount, currency="USD", occurred_at=now,
                                          period_start=now.replace(year=now.year - 1), period_end=now.replace(
                                              year=now.year + 1))
            paid.append((ext, amount, amount * fee_bp // 10000))
        elif op[0] == "refund" and paid:
            _, which, pct, kind = op
            ext, amount, _fee = paid[which % len(paid)]
            with p.read() as s:
                row = s.scalar(select(LedgerPayment).where(LedgerPayment.coop_id == coop_id,
                                                           LedgerPayment.payment_ref == f"fakepay:{ext}"))
                left = row.amount - row.reversed if row else 0
            r = max(1, left * pct // 100) if left else 0
            if r:
                with p.session() as s:
                    p.payments.publish(s, PaymentEvent(
                        type="payment.refunded" if kind == "refund" else "payment.disputed", provider="fakepay",
                        user_id=None, artist_id=seller, amount=r, currency="USD", external_id=f"{ext}:r{n}",
                        data={"payment": ext}))
        elif op[0] == "join":
            a = artists[op[1]]
            if a.artist_id not in members:
                with p.session() as s:
                    c = g.get_coop(s, coop_id)
                    g.send_invitation(p, s, c, a.artist_id, founder.artist_id)
                    g.respond(p, s, _actor(a), c, True)
                members.add(a.artist_id)
                set_split()
        elif op[0] == "leave":
            a = artists[op[1]]
            if a.artist_id in members and a.artist_id != founder.artist_id:
                with p.session() as s:
                    c = g.get_coop(s, coop_id)
                    g.leave(p, s, _actor(a), c)  # notice_days 0: left at once
                members.discard(a.artist_id)
                set_split()
        _settle(p)
        with p.read() as s:
            assert ledger.check_balanced(s, coop_id) == []
    with p.read() as s:
        for ext, amount, fee in paid:
            ref = f"fakepay:{ext}"
            rows = s.scalars(select(LedgerEntry).where(LedgerEntry.coop_id == coop_id,
                                                       LedgerEntry.payment_ref == ref)).all()
            shares = [e.amount for e in rows if e.kind == "share"]
            assert sum(shares) == amount - fee  # to the cent
            row = s.scalar(select(LedgerPayment).where(LedgerPayment.payment_ref == ref))
            given_back = -sum(e.amount for e in rows if e.kind == "clawback")
            assert given_back == row.reversed
            if row.reversed == amount:  # fully refunded: every share returned exactly
                per: dict = {}
                for e in rows:
                    if e.kind in ("share", "fee", "clawback"):
                        per[e.artist_id] = per.get(e.artist_id, 0) + e.amount
                assert all(v == 0 for v in per.values())
        # everything owed was moved: every balance is zero, the provider agrees
        assert all(v == 0 for cur in ledger.balances(s, coop_id).values() for v in cur.values())
        assert ledger.check_balanced(s, coop_id) == []


def two_member_coop(p, a, b, name: str):
    """A co-op of artists ``a`` and ``b`` (no notice, a fixed 60/40 split): ``(coop id, seller account)``."""
    with p.session() as s:
        coop = g.create_coop(p, s, _actor(a), name=name, description="",
                             rules={"quorum": "majority", "notice_days": 0, "vote_days": 1})
        g.send_invitation(p, s, coop, b.artist_id, a.artist_id)
        g.respond(p, s, _actor(b), coop, True)
        g._add_version(p, s, coop.id, "split", {"kind": "fixed", "shares": {str(a.artist_id): 6000,
                                                                           str(b.artist_id): 4000}})
        return coop.id, coop.artist_id


def test_a_dispute_claws_back_reverses_and_a_won_dispute_pays_again(world):
    p, artists, fans = world
    fees.bp = 1000
    a, b = artists[0], artists[1]
    coop_id, seller = two_member_coop(p, a, b, "Disputed")
    with p.session() as s:
        p.payments.record_payment(s, provider="fakepay", external_id="inv_d", user_id=fans[0].id, artist_id=seller,
                                  amount=999, currency="USD")
    _settle(p)
    with p.session() as s:
        p.payments.publish(s, PaymentEvent(type="payment.disputed", provider="fakepay", user_id=None, artist_id=seller,
                                           amount=999, currency="USD", external_id="dp_1",
                                           data={"payment": "inv_d", "dispute": "dp_1"}))
    _settle(p)
    with p.read() as s:
        assert all(v == {"usd": 0} for v in ledger.balances(s, coop_id).values())
        assert ledger.check_balanced(s, coop_id) == []
        moved = {str(e.artist_id): e.amount for e in s.scalars(select(LedgerEntry).where(
            LedgerEntry.coop_id == coop_id, LedgerEntry.kind == "transfer_reversal"))}
    assert moved == {str(a.artist_id): 540, str(b.artist_id): 360}  # 999 - 99 fee = 900: 60/40
    with p.session() as s:
        p.payments.publish(s, PaymentEvent(type="payment.dispute_won", provider="fakepay", user_id=None,
                                           artist_id=seller, amount=999, currency="USD", external_id="dp_1:won",
                                           data={"payment": "inv_d", "dispute": "dp_1"}), idempotent=True)
    _settle(p)
    with p.read() as s:
        assert ledger.check_balanced(s, coop_id) == []
        assert all(v == {"usd": 0} for v in ledger.balances(s, coop_id).values())
        won = s.scalar(select(LedgerPayment).where(LedgerPayment.payment_ref == "fakepay:inv_d#won:dp_1"))
        assert won.amount == 999 and won.fee == 99
        transfers = sorted(-e.amount for e in s.scalars(select(LedgerEntry).where(
            LedgerEntry.coop_id == coop_id, LedgerEntry.kind == "transfer")))
    assert transfers == [360, 360, 540, 540]  # paid, reversed, paid again
