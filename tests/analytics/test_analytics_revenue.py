"""Revenue metrics on small hand-made histories with exact expected figures: MRR and its
movements per day and per tier, net revenue after fees and refunds, revenue by source."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from musicconnect import PaymentEvent
from musicconnect.testing import make_user

D1 = datetime(2026, 5, 1, 10, 0, tzinfo=timezone.utc)
END = "2026-05-31T00:00:00Z"  # the period: the 30 days of May 1..30


def sub(p, type_, artist, fan, ref, tier, amount, interval="month", day=0, status="active"):
    with p.session() as s:
        p.payments.publish(s, PaymentEvent(
            type=type_, provider="sandbox", user_id=fan, artist_id=artist, tier_id=tier, amount=amount,
            currency="EUR", external_id=ref, occurred_at=D1 + timedelta(days=day),
            data={"subscription": ref, "status": status, "interval": interval}))


def pay(p, artist, fan, ref, amount, day=0, **data):
    with p.session() as s:
        p.emit(s, "payment.succeeded", actor_id=fan, artist_id=artist, subject=("payment", ref),
               at=D1 + timedelta(days=day), data={"provider": "sandbox", "amount": amount, "currency": "EUR", **data})


def metric(client, artist, mid, end=END, days=30):
    r = client.get(f"/api/v1/analytics/artists/{artist.artist_id}/metrics/{mid}", params={"days": days, "end": end},
                   headers=artist.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert "error" not in body or body["error"] is None, body
    return body["value"]


def test_mrr_and_its_movements_per_day_and_per_tier(mc_client, mc_platform, mc_users):
    p, artist = mc_platform, mc_users.artist
    a = artist.artist_id
    tiers = sorted(p.access.tiers(a), key=lambda t: t.rank)
    t1, t2 = tiers[-2].id, tiers[-1].id
    fa, fb, fc = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    sub(p, "subscription.created", a, fa, "sub_a", t1, 500)                    # new 500 (t1)
    sub(p, "subscription.created", a, fb, "sub_b", t2, 12000, "year")          # new 1000 (t2)
    sub(p, "subscription.updated", a, fa, "sub_a", t2, 1000, day=1)            # expansion 500 (t2)
    sub(p, "subscription.updated", a, fb, "sub_b", t2, 6000, "year", day=2)    # contraction 500 (t2)
    sub(p, "subscription.ended", a, fa, "sub_a", t2, 1000, day=3, status="canceled")  # churn 1000 (t2)
    sub(p, "subscription.created", a, fa, "sub_a2", t1, 500, day=4)            # reactivation 500 (t1)
    sub(p, "subscription.cancelled", a, fc, "sub_c", t1, 300, day=5)           # new 300: counts until it ends
    assert metric(mc_client, artist, "analytics_mrr") == 1300
    days = metric(mc_client, artist, "analytics_mrr_movements")
    assert len(days) == 30 and days[0]["day"] == "2026-05-01" and days[-1]["day"] == "2026-05-30"
    zero = {"new": 0, "expansion": 0, "contraction": 0, "churn": 0, "reactivation": 0, "net": 0}
    assert days[0] == {"day": "2026-05-01", "mrr": 1500, **zero, "new": 1500, "net": 1500}
    assert days[1] == {"day": "2026-05-02", "mrr": 2000, **zero, "expansion": 500, "net": 500}
    assert days[2] == {"day": "2026-05-03", "mrr": 1500, **zero, "contraction": 500, "net": -500}
    assert days[3] == {"day": "2026-05-04", "mrr": 500, **zero, "churn": 1000, "net": -1000}
    assert days[4] == {"day": "2026-05-05", "mrr": 1000, **zero, "reactivation": 500, "net": 500}
    assert days[5] == {"day": "2026-05-06", "mrr": 1300, **zero, "new": 300, "net": 300}
    assert all(d == {"day": d["day"], "mrr": 1300, **zero} for d in days[6:])
    by_tier = {r["tier_id"]: r for r in metric(mc_client, artist, "analytics_mrr_by_tier")}
    assert {k: v["mrr"] for k, v in by_tier.items()} == {str(t2): 500, str(t1): 800}
    mov = {r["tier_id"]: r for r in metric(mc_client, artist, "analytics_mrr_movements_by_tier")}
    assert {k: mov[str(t1)][k] for k in ("new", "expansion", "contraction", "churn", "reactivation", "net",
                                         "new_fans", "reactivation_fans", "churn_fans")} == \
        {"new": 800, "expansion": 0, "contraction": 0, "churn": 0, "reactivation": 500, "net": 1300,
         "new_fans": 2, "reactivation_fans": 1, "churn_fans": 0}
    assert {k: mov[str(t2)][k] for k in ("new", "expansion", "contraction", "churn", "net", "churn_fans")} == \
        {"new": 1000, "expansion": 500, "contraction": 500, "churn": 1000, "net": 0, "churn_fans": 1}
    # a period before any of it: nothing
    assert metric(mc_client, artist, "analytics_mrr", end="2026-04-30T00:00:00Z") == 0


def test_net_revenue_after_fees_and_refunds_and_by_source(mc_client, mc_platform, mc_users):
    p, artist = mc_platform, mc_users.artist
    a = artist.artist_id
    fa, fb = uuid.uuid4(), uuid.uuid4()
    pay(p, a, fa, "in_a", 500, platform_fee=50, artist_net=450, subscription="sub_a")
    pay(p, a, fb, "in_b", 12000, platform_fee=1200, artist_net=10800, provider_fee=300, subscription="sub_b")
    pay(p, a, fa, "dl_1", 200, day=2, platform_fee=20, artist_net=180, source="downloads")
    pay(p, a, None, "tip_1", 100, day=3)
    with p.session() as s:  # half of B's payment refunded: the fees come back in proportion
        p.payments.publish(s, PaymentEvent(type="payment.refunded", provider="sandbox", user_id=fb, artist_id=a,
                                           amount=6000, currency="EUR", external_id="re_1",
                                           occurred_at=D1 + timedelta(days=4), data={"payment": "in_b"}))
    assert metric(mc_client, artist, "analytics_revenue_summary") == {
        "gross": 6800, "refunds": 6000, "platform_fee": 670, "provider_fee": 150, "net": 5980}
    assert metric(mc_client, artist, "analytics_net_revenue") == 5980
    assert metric(mc_client, artist, "analytics_revenue_by_source") == {"subscriptions": 6500, "downloads": 200,
                                                                        "other": 100}
    # only the first two days
    assert metric(mc_client, artist, "analytics_net_revenue", end="2026-05-03T00:00:00Z", days=2) == 450 + 10500
    other = make_user(p, "artist")
    assert metric(mc_client, other, "analytics_net_revenue") == 0


def test_a_payment_through_the_core_split_counts_its_artist_net(mc_client, mc_platform, mc_users):
    p, artist = mc_platform, mc_users.artist
    with p.session() as s:
        split = p.payments.record_payment(s, provider="sandbox", external_id="in_x", user_id=mc_users.fan.id,
                                          artist_id=artist.artist_id, amount=1000, currency="EUR",
                                          occurred_at=D1, data={"subscription": "sub_x"})
    assert metric(mc_client, artist, "analytics_revenue_summary") == {
        "gross": 1000, "refunds": 0, "platform_fee": split["platform_fee"], "provider_fee": 0,
        "net": split["artist_net"]}
