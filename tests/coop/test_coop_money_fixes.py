# ruff: noqa: F811  (the shop fixture, imported)
"""Regressions of the hostile review of the co-op's money (lost payment facts, payout
idempotency, dissolved co-ops, the fan-centric listening period), through the billing sandbox."""
from __future__ import annotations

import uuid
from types import SimpleNamespace

from sqlalchemy import select

from musicconnect import PermanentJobError
from musicconnect.models import DomainEvent
from musicconnect_billing import sandbox
from musicconnect_billing.models import SandboxObject
from musicconnect_coop import governance as g
from musicconnect_coop import ledger, payouts
from musicconnect_coop.bundle_models import Payout
from musicconnect_coop.ledger_models import LedgerEntry, LedgerPayment
from tests.coop.test_coop_selling import shop  # noqa: F401  (fixture)


def _on_sale(shop):
    coop, bundle = shop.found_with_bundle()
    shop.pick(coop, bundle, shop.a, shop.own_tier(shop.a).id)
    shop.pick(coop, bundle, shop.b, shop.own_tier(shop.b).id)
    return coop, bundle


def _sweep(shop):
    return payouts._payout_sweep(SimpleNamespace(platform=shop.platform))


def _provider_net(shop):
    with shop.platform.read() as s:
        return sum(t.data["amount"] - t.data["amount_reversed"]
                   for t in s.scalars(select(SandboxObject).where(SandboxObject.kind == "transfer")))


def _bought_while_failing(shop, monkeypatch, module, name, exc):
    """A fan buys the bundle while ``module.name`` raises ``exc`` (then it works again)."""
    coop, bundle = _on_sale(shop)

    def fail(*a, **k):
        raise exc
    with monkeypatch.context() as m:
        m.setattr(module, name, fail)
        shop.buy(bundle["tier_id"])
    return coop, bundle


def _bought_with_a_crash_after_the_provider_call(shop, monkeypatch):
    """The payout job dies after the provider moved the first member's share and before it was
    recorded (the move stays ``pending``)."""
    return _bought_while_failing(shop, monkeypatch, payouts, "_record",
                                 PermanentJobError("worker died after the provider call"))


def _renew(shop):
    with shop.platform.session() as s:
        [sub] = [dict(r.data) for r in s.scalars(select(SandboxObject).where(SandboxObject.kind == "subscription"))]
        sandbox.renew(shop.platform, s, sub)
    shop.wait()


def test_a_payment_missed_by_the_hook_is_recorded_split_and_paid_by_the_sweep(shop, monkeypatch):
    coop, bundle = _bought_while_failing(shop, monkeypatch, ledger, "record_payment", RuntimeError("connection reset"))
    with shop.platform.read() as s:
        assert s.scalars(select(LedgerPayment)).all() == []
    out = _sweep(shop)
    assert out["recorded"] == 1 and out["moved"] == 900
    with shop.platform.read() as s:
        [p] = s.scalars(select(LedgerPayment)).all()
        assert (p.amount, p.fee) == (1000, 100)
        assert ledger.balances(s, uuid.UUID(coop["id"])) == {str(shop.a.artist_id): {"usd": 0},
                                                              str(shop.b.artist_id): {"usd": 0}}
    assert _provider_net(shop) == 900
    shop.balanced(coop["id"])
    assert _sweep(shop) == {"recorded": 0, "payments": 0, "moved": 0}  # idempotent


def test_a_missed_refund_is_clawed_back_and_reversed_by_the_sweep(shop, monkeypatch):
    coop, bundle = _on_sale(shop)
    shop.buy(bundle["tier_id"])
    with shop.platform.read() as s:
        [ref] = {e.payment_ref for e in s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "share"))}
    monkeypatch.setattr(ledger, "record_reversal", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("down")))
    invoice_id = ref.split(":", 1)[1]
    with shop.platform.session() as s:
        inv = sandbox.get(s, invoice_id, "invoice")
        sandbox.emit(shop.platform, s, "charge.refunded", {
            "id": inv["charge"], "object": "charge", "amount": 1000, "currency": "usd", "amount_refunded": 1000,
            "refunded": True, "invoice": invoice_id})
    shop.wait()
    monkeypatch.undo()
    assert _provider_net(shop) == 900  # the refund never reached the co-op
    out = _sweep(shop)
    assert out["recorded"] == 1
    assert _provider_net(shop) == 0
    shop.balanced(coop["id"])


def test_a_crash_after_the_provider_call_resends_the_same_key_and_amount_and_a_refund_is_a_reversal(
        shop, monkeypatch):
    coop, bundle = _bought_with_a_crash_after_the_provider_call(shop, monkeypatch)
    with shop.platform.read() as s:
        rows = s.scalars(select(Payout)).all()
        [row] = rows  # the job died on the first member's transfer
        assert row.status == "pending" and row.provider_ref is None
        key, first, sent = row.idem_key, row.artist_id, row.amount
        full = {shop.a.artist_id: 630, shop.b.artist_id: 270}
        [ref] = {e.payment_ref for e in s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "share"))}
    assert _provider_net(shop) == sent  # the provider made it; the job died before recording it
    invoice_id = ref.split(":", 1)[1]
    with shop.platform.session() as s:
        inv = sandbox.get(s, invoice_id, "invoice")
        sandbox.emit(shop.platform, s, "charge.refunded", {
            "id": inv["charge"], "object": "charge", "amount": 1000, "currency": "usd", "amount_refunded": 400,
            "refunded": False, "invoice": invoice_id})
    shop.wait()
    payouts.payout(shop.platform, uuid.UUID(coop["id"]), ref)
    with shop.platform.read() as s:
        rows = s.scalars(select(Payout)).all()
        transfers = {(r.artist_id, r.idem_key): (r.status, r.amount) for r in rows if r.kind == "transfer"}
        reversals = [(r.artist_id, r.amount) for r in rows if r.kind == "reversal"]
        assert transfers[(first, key)] == ("done", sent)  # the same key and amount, resent
        [other] = set(full) - {first}
        assert sorted(transfers.values()) == sorted([("done", sent), ("done", full[other] * 6 // 10)])
        assert reversals == [(first, sent - sent * 6 // 10)]  # the refund: a later reversal
        assert all(r.status == "done" and r.provider_ref for r in rows)
        bal = ledger.balances(s, uuid.UUID(coop["id"]))
        assert all(v == {"usd": 0} for v in bal.values())
    assert _provider_net(shop) == 540
    shop.balanced(coop["id"])


def test_a_dissolved_coop_stops_renewals_and_takes_no_payment_without_members(shop):
    coop, bundle = _on_sale(shop)
    shop.buy(bundle["tier_id"])
    with shop.platform.session() as s:
        c = g.get_coop(s, uuid.UUID(coop["id"]))
        c.rules = {**c.rules, "notice_days": 0}
        s.flush()
    p = shop.post(f"/coops/{coop['id']}/proposals", shop.a, {"kind": "dissolve", "payload": {}}, 201).json()
    shop.passed(coop, p, shop.a, shop.b)
    shop.wait()
    assert shop.client.get(f"/api/v1/coop/coops/{coop['slug']}").json()["status"] == "dissolved"
    with shop.platform.read() as s:
        [sub] = [r.data for r in s.scalars(select(SandboxObject).where(SandboxObject.kind == "subscription"))]
    assert sub["cancel_at_period_end"] is True  # cancelled at period end through the provider
    shop.platform.clock.advance(days=32)
    _renew(shop)
    with shop.platform.read() as s:
        paid = s.scalars(select(DomainEvent).where(DomainEvent.type == "payment.succeeded")).all()
        assert len(paid) == 1 and len(s.scalars(select(LedgerPayment)).all()) == 1
    # and a renewal that does come (a provider that cannot cancel) fails closed: no split, no payment
    with shop.platform.read() as s:
        c = s.get(g.Coop, uuid.UUID(coop["id"]))
        try:
            payouts._split(shop.platform, s, c, 900, None)
        except payouts.SplitError:
            pass
        else:
            raise AssertionError("a dissolved co-op's account split a payment")


def test_fan_centric_follows_the_listening_of_the_period_that_just_ended(shop):
    a, b = shop.a, shop.b
    coop = shop.post("/coops", a, {"name": "FC"}, 201).json()  # default split: fan_centric, min 0
    shop.post(f"/coops/{coop['id']}/invitations", a, {"artist_id": str(b.artist_id)}, 201)
    shop.post(f"/coops/{coop['id']}/invitation/accept", b, status=200)
    p = shop.post(f"/coops/{coop['id']}/bundles", a, {"name": "B", "price_amount": 1000}, 202).json()["proposal"]
    shop.passed(coop, p, a, b)
    [bundle] = shop.client.get(f"/api/v1/coop/coops/{coop['id']}/bundles", headers=a.headers).json()["bundles"]
    shop.pick(coop, bundle, a, shop.own_tier(a).id)
    shop.pick(coop, bundle, b, shop.own_tier(b).id)

    def plays(artist, n):
        with shop.platform.session() as s:
            for _ in range(n):
                shop.platform.emit(s, "play.counted", actor_id=shop.fan.id, artist_id=artist.artist_id)
    plays(b, 10)  # before the first purchase: only Bo
    shop.platform.clock.advance(minutes=1)
    shop.buy(bundle["tier_id"])
    for _ in range(29):  # the first month: only Ada
        shop.platform.clock.advance(days=1)
        plays(a, 5)
    shop.platform.clock.advance(days=3)
    _renew(shop)
    with shop.platform.read() as s:
        by_payment: dict[str, dict[str, int]] = {}
        for e in s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "share").order_by(LedgerEntry.occurred_at)):
            by_payment.setdefault(e.payment_ref, {})[str(e.artist_id)] = e.amount
        first, renewal = sorted(by_payment.values(), key=lambda d: d.get(str(a.artist_id), 0))
    assert first == {str(a.artist_id): 0, str(b.artist_id): 900}  # trailing window: Bo's plays
    assert renewal == {str(a.artist_id): 900, str(b.artist_id): 0}  # the month that ended: Ada's
    shop.balanced(coop["id"])


def test_a_payout_where_the_provider_is_off_stays_pending_and_the_sweep_sends_it_later(shop, monkeypatch, caplog):
    from musicconnect_billing import providers

    coop, bundle = _bought_with_a_crash_after_the_provider_call(shop, monkeypatch)
    with shop.platform.read() as s:
        [row] = s.scalars(select(Payout)).all()
        [ref] = {e.payment_ref for e in s.scalars(select(LedgerEntry).where(LedgerEntry.kind == "share"))}
    # a worker where the sandbox is not on (e.g. started without MC_BILLING_SANDBOX): a clear
    # permanent failure of the job (no traceback), and the pending move is left as it was
    monkeypatch.setattr(providers, "enabled", lambda platform: [])
    try:
        payouts._payout_job(SimpleNamespace(platform=shop.platform), coop["id"], ref)
    except PermanentJobError as exc:
        assert "no enabled payment provider 'sandbox'" in str(exc) and "stays pending" in str(exc)
    else:
        raise AssertionError("the payout job ran without its provider")
    caplog.clear()
    out = _sweep(shop)
    assert out["moved"] == 0
    assert [r for r in caplog.records if r.exc_info] == []
    assert any("stays pending" in r.getMessage() for r in caplog.records)
    with shop.platform.read() as s:
        again = s.get(Payout, row.id)
        assert (again.status, again.amount, again.idem_key) == ("pending", row.amount, row.idem_key)
    monkeypatch.setattr(providers, "enabled", lambda platform: [providers.SANDBOX])
    assert _sweep(shop)["moved"] == 900  # the pending move resent with its key (the provider replays it)
    assert _provider_net(shop) == 900
    shop.balanced(coop["id"])


def test_the_sweep_finds_the_one_unsettled_payment_in_four_queries_however_many_there_are(shop, monkeypatch):
    from sqlalchemy import event

    coop, bundle = _on_sale(shop)
    shop.buy(bundle["tier_id"])
    _renew(shop)
    _renew(shop)
    seen = []

    def count(*a, **k):
        seen.append(1)
    with shop.platform.read() as s:
        event.listen(shop.platform.db.engine, "before_cursor_execute", count)
        try:
            assert payouts.unsettled(s) == []
        finally:
            event.remove(shop.platform.db.engine, "before_cursor_execute", count)
        before = {p.payment_ref for p in s.scalars(select(LedgerPayment))}
    assert len(before) == 3 and len(seen) == 4
    real = payouts._send

    def lost(*a, **k):
        raise PermanentJobError("worker died before the provider call")
    monkeypatch.setattr(payouts, "_send", lost)
    _renew(shop)
    monkeypatch.setattr(payouts, "_send", real)
    with shop.platform.read() as s:
        [(coop_id, ref)] = payouts.unsettled(s)
        assert str(coop_id) == coop["id"] and {p.payment_ref for p in s.scalars(select(LedgerPayment))} - before == {ref}
    assert _sweep(shop)["payments"] == 1
    with shop.platform.read() as s:
        assert payouts.unsettled(s) == []
    shop.balanced(coop["id"])


def test_the_coop_page_shows_a_members_renamed_tier_at_once(shop):
    coop, bundle = _on_sale(shop)
    url = f"/api/v1/coop/coops/{coop['slug']}"

    def included():
        [tier] = shop.client.get(url).json()["bundle_tiers"]
        return {i["artist_id"]: i["tier_name"] for i in tier["includes"]}
    before = included()  # cached now
    tier = shop.own_tier(shop.a)
    r = shop.client.patch(f"/api/v1/artists/{shop.a.artist_id}/tiers/{tier.id}", json={"name": "Night Owls"},
                          headers=shop.a.headers)
    assert r.status_code == 200, r.text
    assert included() == {**before, str(shop.a.artist_id): "Night Owls"}
