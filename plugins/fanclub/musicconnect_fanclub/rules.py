"""The fan club's access rules, evaluated per request from data (no I/O):

* tier content: members whose effective tier rank is at least the required tier's rank;
* early access: before ``publish_at``, members whose tiers carry ``early_access: H`` see content
  from ``publish_at - H hours`` (tier content additionally needs the rank); everyone else only after;
* taken-down, unprocessed content: the core already denies it to all but the artist and admins.

An entitlement that expired or was revoked loses access at once: the context holds the
entitlements with their validity window and ``now``.
"""
from __future__ import annotations

from datetime import timedelta

from musicconnect import Vote

KNOWN_PERKS = {
    "early_access": "hours before publish_at that members see new content (integer >= 1)",
    "exclusive_tracks": "tier-only tracks (boolean)",
    "live_sessions": "live listening sessions (boolean)",
    "direct_messages": "direct messages to the artist per calendar month (integer >= 0)",
    "virtual_backstage": "the members-only backstage (boolean)",
    "offline_downloads": "offline downloads per month (integer >= 0)",
}


def vote(actor, action, resource, context):
    if actor is None or resource.status != "ready":
        return None
    if actor.is_admin or actor.artist_id == resource.artist_id:
        return None  # the core allows owners and admins already
    effective = context.effective()
    if not effective:
        return None
    best = max(e.tier_rank for e in effective)
    if resource.visibility == "tier":
        required = context.tier(resource.required_tier_id)
        if required is None or best < required.rank:
            return None
    publish_at = resource.publish_at
    if publish_at is None or publish_at <= context.now:
        return Vote.ALLOW if resource.visibility == "tier" else None  # public & released: the core allows
    hours = context.perks().get("early_access")
    if isinstance(hours, (int, float)) and not isinstance(hours, bool) and hours > 0:
        if context.now >= publish_at - timedelta(hours=hours):
            return Vote.ALLOW
    return None


def validate(rank: int, perks: dict) -> list[str]:
    errors = []
    for key in ("direct_messages", "offline_downloads"):
        if key in perks and (isinstance(perks[key], bool) or not isinstance(perks[key], int) or perks[key] < 0):
            errors.append(f"{key} must be a whole number of 0 or more")
    if "early_access" in perks:
        v = perks["early_access"]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1 or v > 24 * 90:
            errors.append("early_access must be a whole number of hours between 1 and 2160")
        elif rank == 0:
            errors.append("the free tier cannot have early access")
    for key in ("exclusive_tracks", "live_sessions", "virtual_backstage"):
        if key in perks and not isinstance(perks[key], bool):
            errors.append(f"{key} must be true or false")
    if rank == 0 and perks.get("virtual_backstage"):
        errors.append("the free tier cannot open the backstage")
    return errors
