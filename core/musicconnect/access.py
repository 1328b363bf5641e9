"""The one access decision every content-serving route uses.

Each enabled plugin's ``check_access`` votes allow / deny / abstain with a prefetched
:class:`~musicconnect.contracts.AccessContext`. A deny wins; otherwise an allow is needed (the
core's built-in rule allows public, published content, and owners and admins); an exception or
an unknown answer denies.
"""
from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool

from .db import wrote
from .accounts import tier_infos
from .asyncutil import resolve_async, resolve_sync
from .contracts import AccessContext, Actor, Decision, Resource, TierInfo, Vote
from .errors import Problem

if TYPE_CHECKING:
    from .platform import Platform

log = logging.getLogger("musicconnect.access")


class AccessService:
    def __init__(self, platform: "Platform"):
        self.platform = platform

    # ---------------------------------------------------------------- context (cached)
    def tiers(self, artist_id: uuid.UUID) -> tuple[TierInfo, ...]:
        key = ("tiers", artist_id)
        cache = self.platform.cache
        hit = cache.get(key)
        if hit is None:
            gen = cache.generation()
            with self.platform.db.read() as s:
                hit = tier_infos(s, artist_id)
                cacheable = not wrote(s)
            if cacheable:
                cache.set(key, hit, generation=gen)
        return hit

    def context(self, actor: Actor | None, artist_id: uuid.UUID) -> AccessContext:
        ents = self.platform.entitlements.for_user(actor.user_id, artist_id) if actor else ()
        return AccessContext(now=self.platform.clock.now(), entitlements=ents, tiers=self.tiers(artist_id))

    def _cached_context(self, actor: Actor | None, artist_id: uuid.UUID) -> AccessContext | None:
        cache = self.platform.cache
        tiers = cache.get(("tiers", artist_id))
        if tiers is None:
            return None
        if actor is None:
            ents = ()
        else:
            ents = cache.get(("ent", actor.user_id, artist_id))
            if ents is None:
                return None
        return AccessContext(now=self.platform.clock.now(), entitlements=ents, tiers=tiers)

    # ---------------------------------------------------------------- decisions
    def decide(self, actor: Actor | None, action: str, resource: Resource,
               context: AccessContext | None = None) -> Decision:
        context = context or self.context(actor, resource.artist_id)
        votes = []
        for impl in self.platform.plugins.impls("check_access"):
            try:
                vote = resolve_sync(self.platform.plugins._call(impl, dict(
                    platform=self.platform, actor=actor, action=action, resource=resource, context=context)))
            except Exception:
                log.exception("access hook of %s raised: counted as deny", impl.plugin_name)
                vote = Vote.DENY
            votes.append((impl.plugin_name, _normalise(vote, impl.plugin_name)))
        return _combine(votes)

    async def adecide(self, actor: Actor | None, action: str, resource: Resource) -> Decision:
        """Async variant: never blocks the loop (context comes from cache or a worker thread)."""
        context = self._cached_context(actor, resource.artist_id)
        if context is None:
            context = await run_in_threadpool(self.context, actor, resource.artist_id)
        votes = []
        for impl in self.platform.plugins.impls("check_access"):
            try:
                vote = await resolve_async(self.platform.plugins._call(impl, dict(
                    platform=self.platform, actor=actor, action=action, resource=resource, context=context)))
            except Exception:
                log.exception("access hook of %s raised: counted as deny", impl.plugin_name)
                vote = Vote.DENY
            votes.append((impl.plugin_name, _normalise(vote, impl.plugin_name)))
        return _combine(votes)

    def require(self, actor: Actor | None, action: str, resource: Resource) -> Decision:
        decision = self.decide(actor, action, resource)
        if not decision.allowed:
            raise denial(actor, decision)
        return decision


def denial(actor: Actor | None, decision: Decision) -> Problem:
    if actor is None:
        return Problem(401, "unauthorized", f"sign in to access this ({decision.reason})",
                       headers={"WWW-Authenticate": "Bearer"})
    return Problem(403, "access-denied", decision.reason)


def _normalise(vote, plugin: str) -> Vote:
    if vote is None:
        return Vote.ABSTAIN
    if isinstance(vote, Vote):
        return vote
    log.error("access hook of %s returned %r: counted as deny", plugin, vote)
    return Vote.DENY


def _combine(votes: list[tuple[str, Vote]]) -> Decision:
    tally = tuple((p, v.value) for p, v in votes)
    denied = [p for p, v in votes if v is Vote.DENY]
    if denied:
        return Decision(False, f"denied by {', '.join(denied)}", tally)
    allowed = [p for p, v in votes if v is Vote.ALLOW]
    if allowed:
        return Decision(True, f"allowed by {', '.join(allowed)}", tally)
    return Decision(False, "no rule grants access", tally)
