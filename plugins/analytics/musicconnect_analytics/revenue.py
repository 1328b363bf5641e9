"""Revenue metrics, read from the rollups (:mod:`.rollups`), never from raw events.

Amounts are integer minor units (cents) of the artist's currency. MRR (monthly recurring
revenue) is the sum of the monthly value of every live subscription (a yearly price counts
1/12, rounded half up); a subscription counts until it ends (``subscription.ended``), so a fan who
cancels at the period end still counts until then, and ``past_due`` still counts.

Movements are classified per customer (a fan of one artist, all their subscriptions together)
at each subscription fact: **new** (0 -> more, first time), **reactivation** (0 -> more, after
having paid before), **expansion** (up), **contraction** (down, not to 0), **churn** (to 0).
Per tier, a movement is credited to the tier the fan ends in (churn: the tier they left).

Public: :func:`mrr_at`, :func:`movements` (and the ``METRICS``).
"""
from __future__ import annotations

from sqlalchemy import select

from musicconnect.models import Tier

from . import rollups
from .rollups import define, days_of

KINDS = ("new", "expansion", "contraction", "churn", "reactivation")


def tier_names(platform, artist_id) -> dict[str, str]:
    with platform.read() as s:
        return {str(i): n for i, n in s.execute(select(Tier.id, Tier.name).where(Tier.artist_id == artist_id))}


def mrr_at(platform, artist_id, day) -> int:
    """MRR at the end of ``day``."""
    return rollups.total(platform, artist_id, "mrr", None, day)


def _mrr(platform, artist_id, window):
    return mrr_at(platform, artist_id, days_of(window)[1])


def _mrr_by_tier(platform, artist_id, window):
    names = tier_names(platform, artist_id)
    found = rollups.by_dimension(platform, artist_id, "mrr", None, days_of(window)[1], prefix="tier:")
    return [{"tier_id": t, "tier": names.get(t, t), "mrr": v} for t, v in sorted(found.items(), key=lambda kv: -kv[1])
            if v]


def movements(platform, artist_id, start, end) -> list[dict]:
    """One row per day of ``[start, end]``: MRR at the end of the day and its movements."""
    from datetime import timedelta

    found = rollups.series_many(platform, artist_id, ["mrr", *(f"mrr_{k}" for k in KINDS)], start, end)
    got = {k: found[f"mrr_{k}"] for k in KINDS}
    mrr = rollups.before(platform, artist_id, "mrr", start)
    daily = found["mrr"]
    out = []
    day = start
    while day <= end:
        mrr += daily.get(day, 0)
        row = {"day": day.isoformat(), "mrr": mrr, **{k: got[k].get(day, 0) for k in KINDS}}
        row["net"] = row["new"] + row["expansion"] + row["reactivation"] - row["contraction"] - row["churn"]
        out.append(row)
        day += timedelta(days=1)
    return out


def _movements(platform, artist_id, window):
    return movements(platform, artist_id, *days_of(window))


def _movements_by_tier(platform, artist_id, window):
    start, end = days_of(window)
    names = tier_names(platform, artist_id)
    fans = ("new", "reactivation", "churn")
    tiers: dict[str, dict] = {}

    def row(t: str) -> dict:
        return tiers.setdefault(t, {**{k: 0 for k in KINDS}, **{f"{k}_fans": 0 for k in fans}})

    for k in KINDS:
        for t, v in rollups.by_dimension(platform, artist_id, f"mrr_{k}", start, end, prefix="tier:").items():
            row(t)[k] = v
    for k in fans:
        for t, v in rollups.by_dimension(platform, artist_id, f"subs_{k}", start, end, prefix="tier:").items():
            row(t)[f"{k}_fans"] = v
    out = []
    for t, r in tiers.items():
        r["net"] = r["new"] + r["expansion"] + r["reactivation"] - r["contraction"] - r["churn"]
        out.append({"tier_id": t, "tier": names.get(t, t), **r})
    return sorted(out, key=lambda r: r["tier"])


def _net(platform, artist_id, window):
    return rollups.total(platform, artist_id, "net", *days_of(window))


def _summary(platform, artist_id, window):
    start, end = days_of(window)
    return {k: rollups.total(platform, artist_id, k, start, end)
            for k in ("gross", "refunds", "platform_fee", "provider_fee", "net")}


def _by_source(platform, artist_id, window):
    found = rollups.by_dimension(platform, artist_id, "gross", *days_of(window), prefix="source:")
    return {k: found.get(k, 0) for k in ("subscriptions", "downloads", "other")}


METRICS = [
    define("analytics_mrr", "MRR",
           "Monthly recurring revenue at the end of the period: the monthly value of every live subscription "
           "(yearly prices / 12); a subscription counts until it ends.", _mrr, unit="minor currency units"),
    define("analytics_mrr_by_tier", "MRR by tier", "MRR at the end of the period, per tier.", _mrr_by_tier,
           unit="minor currency units", dimension="tier"),
    define("analytics_mrr_movements", "MRR movements",
           "Per day: MRR at the end of the day and its movements: new (a fan's first subscription), reactivation "
           "(a fan who had paid before comes back), expansion (a fan's MRR goes up), contraction (down, not to "
           "zero), churn (to zero); net = new + expansion + reactivation - contraction - churn.", _movements,
           unit="minor currency units", dimension="day"),
    define("analytics_mrr_movements_by_tier", "MRR movements by tier",
           "The period's MRR movements per tier (credited to the tier the fan ends in; churn to the tier left), "
           "with the number of new, reactivated and churned fans.", _movements_by_tier,
           unit="minor currency units", dimension="tier"),
    define("analytics_net_revenue", "Net revenue",
           "What the artist keeps over the period: payments minus the platform's fee and the payment "
           "provider's fee (when recorded), minus refunds and disputes (their fees returned in proportion).",
           _net, unit="minor currency units"),
    define("analytics_revenue_summary", "Revenue and fees",
           "Over the period: gross payments (refunds deducted), refunds and disputes, platform fees, provider "
           "fees and net revenue.", _summary, unit="minor currency units", dimension="component"),
    define("analytics_revenue_by_source", "Revenue by source",
           "Gross payments over the period (refunds deducted) by source: subscriptions (a payment of a "
           "subscription), downloads (a payment for a download) and other.", _by_source,
           unit="minor currency units", dimension="source"),
]
