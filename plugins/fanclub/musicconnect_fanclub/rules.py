"""The fan club's access rules, evaluated per request from data (no I/O). The core already
decides tier content (members of the required rank or above, once released) and denies
taken-down or unprocessed content; the fan club adds:

* early access: before ``publish_at``, members whose tiers carry ``early_access: H`` see content
  from ``publish_at - H hours`` (tier content additionally needs the rank: the core's rule,
  ``context.qualifies``); everyone else only after.

An entitlement that expired or was revoked loses access at once: the context holds the
entitlements with their validity window and ``now``.
"""
from __future__ import annotations

from datetime import timedelta

from musicconnect import PerkSpec, Verdict

#: the tier perks the fan club honours (types and limits: the core checks tier edits against them)
PERKS = {
    "early_access": PerkSpec(int, "hours before publish_at that members see new content", min=1, max=24 * 90),
    "exclusive_tracks": PerkSpec(bool, "tier-only tracks: shown on the tier (tracks are gated by their tier)"),
    "live_sessions": PerkSpec(bool, "live listening sessions"),
    "direct_messages": PerkSpec(int, "direct messages to the artist per calendar month", min=0, max=1_000_000),
    "virtual_backstage": PerkSpec(bool, "the members-only backstage"),
}

#: what the demo tiers carry (added by ``seed_demo``; the core creates bare tiers)
DEMO_PERKS = {
    "supporter": {"exclusive_tracks": True},
    "superfan": {"early_access": 24, "exclusive_tracks": True, "live_sessions": True, "direct_messages": 5,
                 "virtual_backstage": True},
}


def vote(actor, action, resource, context):
    """Early access: allows what the core holds back only because it is not released yet."""
    if actor is None or resource.status != "ready":
        return None
    publish_at = resource.publish_at
    if publish_at is None or publish_at <= context.now or not context.qualifies(resource):
        return None
    hours = context.perks().get("early_access")
    if isinstance(hours, (int, float)) and not isinstance(hours, bool) and hours > 0:
        if context.now >= publish_at - timedelta(hours=hours):
            return Verdict.allow(f"early access ({hours:g} h before release)")
    return None


def validate(rank: int, perks: dict) -> list[str]:
    """What the declared types and limits cannot say (they are checked by the core first)."""
    errors = []
    if rank == 0 and "early_access" in perks:
        errors.append("the free tier cannot have early access")
    if rank == 0 and perks.get("virtual_backstage"):
        errors.append("the free tier cannot open the backstage")
    return errors
