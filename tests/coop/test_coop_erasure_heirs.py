"""Erasure (review): the last admin's erasure leaves the co-op an admin (the longest-standing
active member), an erased member's unpaid balance is marked unclaimable (the sweep stops), and a
fan's export includes the co-op's record of their payments."""
# ruff: noqa: F811
from __future__ import annotations

import uuid
from types import SimpleNamespace

from sqlalchemy import select

from musicconnect.models import User
from musicconnect_coop import payouts
from musicconnect_billing import sandbox
from musicconnect_coop.bundle_models import Payout
from musicconnect_coop.ledger_models import LedgerPayment
from musicconnect_coop.models import Member
from musicconnect_coop.privacy import export_user_data
from musicconnect_privacy.erasure import erase
from tests.coop.test_coop_payout_privacy import shop  # noqa: F401  (fixture, with privacy)


def test_erasing_the_admin_promotes_an_heir_and_stops_paying_the_erased(shop, monkeypatch):
    coop, bundle = shop.found_with_bundle(price=1000, shares=(5000, 5000))
    assert shop.pick(coop, bundle, shop.a, shop.own_tier(shop.a).id).status_code == 200
    assert shop.pick(coop, bundle, shop.b, shop.own_tier(shop.b).id).status_code == 200
    # Ada (the founder, the only admin) has no payout account yet: her share stays owed
    real = shop.platform.payments.call

    def no_account(provider, capability, **kw):
        if capability == "transfer" and kw.get("artist_id") == shop.a.artist_id:
            from musicconnect import Problem
            raise Problem(409, "payout-account-missing", "no account")
        return real(provider, capability, **kw)
    monkeypatch.setattr(shop.platform.payments, "call", no_account)
    shop.buy(bundle["tier_id"])
    with shop.platform.read() as s:
        assert payouts.unsettled(s)
    with shop.platform.session() as s:
        part = export_user_data(shop.platform, s, s.get(User, shop.fan.id))
    [paid] = part.records["coop_ledger_payments"]
    assert paid["amount"] == 1000 and paid["fee"] == 100
    erase(shop.platform, shop.a.id)
    with shop.platform.read() as s:
        [heir] = s.scalars(select(Member).where(Member.coop_id == uuid.UUID(coop["id"]))).all()
        assert heir.artist_id == shop.b.artist_id and heir.role == "admin"
        [lost] = s.scalars(select(Payout).where(Payout.status == "unclaimable")).all()
        assert lost.amount == 450 and lost.artist_id == shop.a.artist_id
        assert payouts.unsettled(s) == []
    assert payouts._payout_sweep(SimpleNamespace(platform=shop.platform))["payments"] == 0
    shop.balanced(coop["id"])
    # a full refund later: Ada's unclaimable part is taken back without a provider reversal, Bo's reversed
    with shop.platform.read() as s:
        [ref] = {p.payment_ref for p in s.scalars(select(LedgerPayment))}
    invoice_id = ref.split(":", 1)[1]
    with shop.platform.session() as s:
        inv = sandbox.get(s, invoice_id, "invoice")
        sandbox.emit(shop.platform, s, "charge.refunded", {
            "id": inv["charge"], "object": "charge", "amount": 1000, "currency": "usd", "amount_refunded": 1000,
            "refunded": True, "invoice": invoice_id})
    shop.wait()
    with shop.platform.read() as s:
        rows = s.scalars(select(Payout).where(Payout.kind == "reversal")).all()
        assert sorted((str(r.artist_id), r.status, r.amount) for r in rows) == sorted(
            [(str(shop.a.artist_id), "unclaimable", 450), (str(shop.b.artist_id), "done", 450)])
        assert payouts.unsettled(s) == []
    shop.balanced(coop["id"])
