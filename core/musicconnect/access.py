"""The one access decision every content-serving route uses.

Each enabled plugin's ``check_access`` votes allow / deny / abstain with a prefetched
:class:`~musicconnect.contracts.AccessContext`. A deny wins; otherwise an allow is needed; an
unknown answer denies; a plugin whose ``check_access`` raises is quarantined (its votes dropped in
this process, reported by ``/readyz``), so owners, admins and the other rules keep working. The
core's own rule (:func:`core_rule`, plugin id ``core``) allows owners and admins, denies
unprocessed and taken-down content to everyone else, and, once ``publish_at`` has passed, allows
public content and tier content to members whose effective tier rank is at least the required
tier's: paid content works with no plugin but the one serving it. Plugins only add rules (early
access, download perks, regional rights...).

A vote may carry its reason (:class:`~musicconnect.contracts.Verdict`); the deciding rule's
reason, problem type and details reach the client through :func:`denial`.
"""
from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool

from .db import wrote
from .accounts import tier_infos, tier_infos_many
from .contracts import AccessContext, Actor, Decision, PerkSpec, Resource, TierInfo, Verdict, Vote
from .errors import NotFound, Problem

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

    def tiers_many(self, artist_ids) -> dict[uuid.UUID, tuple[TierInfo, ...]]:
        """:meth:`tiers` for many artists: cache hits as they are, every miss in one query."""
        cache = self.platform.cache
        out: dict[uuid.UUID, tuple[TierInfo, ...]] = {}
        missing = []
        for artist_id in dict.fromkeys(artist_ids):
            hit = cache.get(("tiers", artist_id))
            if hit is None:
                missing.append(artist_id)
            else:
                out[artist_id] = hit
        if missing:
            gen = cache.generation()
            with self.platform.db.read() as s:
                got = tier_infos_many(s, missing)
                cacheable = not wrote(s)
            for artist_id in missing:
                if cacheable:
                    cache.set(("tiers", artist_id), got[artist_id], generation=gen)
                out[artist_id] = got[artist_id]
        return out

    def contexts(self, actor: Actor | None, artist_ids) -> dict[uuid.UUID, AccessContext]:
        """The decision context of one actor for each of many artists, in at most two queries
        whatever their number (cache hits need none): pass ``contexts[item.artist_id]`` to
        :meth:`decide` when a route decides for a list of items of many artists."""
        artist_ids = list(dict.fromkeys(artist_ids))
        tiers = self.tiers_many(artist_ids)
        ents = self.platform.entitlements.for_user_many(actor.user_id, artist_ids) if actor else {}
        now = self.platform.clock.now()
        return {a: AccessContext(now=now, entitlements=ents.get(a, ()), tiers=tiers[a]) for a in artist_ids}

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
        # a plugin whose check_access raises is quarantined by the registry: it has no vote here
        return _combine([(p, _normalise(v, p)) for p, v in self.platform.plugins.vote(
            "check_access", platform=self.platform, actor=actor, action=action, resource=resource, context=context)])

    async def adecide(self, actor: Actor | None, action: str, resource: Resource) -> Decision:
        """Async variant: never blocks the loop (context comes from cache or a worker thread)."""
        context = self._cached_context(actor, resource.artist_id)
        if context is None:
            context = await run_in_threadpool(self.context, actor, resource.artist_id)
        return _combine([(p, _normalise(v, p)) for p, v in await self.platform.plugins.avote(
            "check_access", platform=self.platform, actor=actor, action=action, resource=resource, context=context)])

    # ---------------------------------------------------------------- what routes call
    def manages(self, actor: Actor | None, artist_id: uuid.UUID) -> bool:
        """The actor is this artist or an admin (sees drafts, versions, management data)."""
        return actor is not None and (actor.is_admin or actor.artist_id == artist_id)

    def released(self, resource: Resource) -> bool:
        """Ready and past its ``publish_at``: its existence is public, gated or not."""
        return resource.status == "ready" and (resource.publish_at is None
                                               or resource.publish_at <= self.platform.clock.now())

    def visible(self, actor: Actor | None, resource: Resource) -> bool:
        """Whether the caller may learn that the item exists: released items (a gated one then
        answers 401/403, so that a player can offer to sign in or upgrade), else whoever the
        decision allows to ``view`` it (owners, admins, early-access holders). Everyone else
        should get 404, exactly as for an item that does not exist."""
        return self.released(resource) or self.decide(actor, "view", resource).allowed

    async def avisible(self, actor: Actor | None, resource: Resource) -> bool:
        return self.released(resource) or (await self.adecide(actor, "view", resource)).allowed

    def require(self, actor: Actor | None, action: str, resource: Resource, *,
                not_found: str | None = None) -> Decision:
        """The decision, or the refusal raised: 401 for an anonymous caller, else 403 with the
        deciding rule's problem type and reason. With ``not_found="track"`` a caller for whom the
        item is not :meth:`visible` gets 404 ``not-found`` ("track not found") instead."""
        decision = self.decide(actor, action, resource)
        if not decision.allowed:
            if not_found is not None and not (self.released(resource) or action != "view"
                                              and self.decide(actor, "view", resource).allowed):
                raise NotFound(not_found)
            raise denial(actor, decision)
        return decision

    async def arequire(self, actor: Actor | None, action: str, resource: Resource, *,
                       not_found: str | None = None) -> Decision:
        """Async :meth:`require` (context from cache or a worker thread; no I/O on the loop)."""
        decision = await self.adecide(actor, action, resource)
        if not decision.allowed:
            if not_found is not None and not (self.released(resource) or action != "view"
                                              and (await self.adecide(actor, "view", resource)).allowed):
                raise NotFound(not_found)
            raise denial(actor, decision)
        return decision

    # ---------------------------------------------------------------- perks
    def perks(self) -> dict[str, tuple[str, PerkSpec]]:
        """Every tier perk an enabled plugin honours: name -> (plugin, spec). A plugin that
        declares a perk with a plain description string gets a spec that accepts any perk value."""
        out: dict[str, tuple[str, PerkSpec]] = {}
        for plugin, declared in self.platform.plugins.collect("register_perks", platform=self.platform):
            for name, spec in (declared or {}).items():
                if not isinstance(spec, PerkSpec):
                    spec = _AnyValue(str, str(spec))
                if name in out and out[name][0] != plugin:
                    log.error("perk %r is declared by %s and %s; %s's declaration is used",
                              name, out[name][0], plugin, out[name][0])
                    continue
                out.setdefault(str(name), (plugin, spec))
        return out


def document_perks(platform: "Platform", schema: dict) -> dict:
    """Write the perks the enabled plugins declare into the OpenAPI document (in place): the
    ``perks`` property of the tier schemas lists them in its description and as ``x-perks`` (type,
    limits, plugin), so the document follows what ``GET /api/v1/perks`` answers."""
    declared = {name: {**spec.as_dict(), "plugin": plugin} for name, (plugin, spec) in sorted(platform.access.perks().items())}
    listing = "; ".join(f"`{n}` ({d['type']}" + (f" {_bound(d.get('minimum'))}..{_bound(d.get('maximum'))}"
                                                  if "minimum" in d or "maximum" in d else "")
                        + f", {d['plugin']}): {d['description']}" for n, d in declared.items())
    for name in ("TierIn", "TierPatch", "TierOut"):
        prop = schema.get("components", {}).get("schemas", {}).get(name, {}).get("properties", {}).get("perks")
        if prop is not None:
            prop["description"] = ("perk name -> value, of the perks the enabled plugins honour (GET /api/v1/perks): "
                                   + (listing or "none"))
            prop["x-perks"] = declared
    return schema


def _bound(v) -> str:
    if v is None:
        return ""
    return str(int(v)) if float(v).is_integer() else str(v)


class _AnyValue(PerkSpec):
    """A perk declared with a description only (the first contract): any perk value."""

    def problem(self, name, value):
        return None

    def as_dict(self):
        return {"type": "any", "description": self.description}


def core_rule(actor: Actor | None, action: str, resource: Resource, context: AccessContext) -> Verdict | None:
    """The core's access rule (voted as plugin ``core``): owners and admins always; nothing
    unprocessed or taken down for anyone else; nothing before ``publish_at`` (a plugin may allow
    earlier, e.g. the fan club's early access); then public content for everyone and tier content
    for members of the required rank or above. Where it does not allow it abstains with its
    reason, so that a plugin rule can still allow (and a plugin deny still wins)."""
    if actor is not None and (actor.is_admin or actor.artist_id == resource.artist_id):
        return Verdict.allow("the artist and admins may")
    if resource.status != "ready":
        return Verdict.deny(f"this {resource.kind} is not available", problem="access-denied")
    if resource.publish_at is not None and resource.publish_at > context.now:
        return Verdict.abstain(f"this {resource.kind} is released at {resource.publish_at.isoformat()}",
                               problem="not-released", publish_at=resource.publish_at.isoformat())
    if context.qualifies(resource):
        return Verdict.allow("released" if resource.visibility == "public" else "member of the required tier")
    tier = context.tier(resource.required_tier_id)
    if tier is None:
        return Verdict.abstain(f"this {resource.kind} is for members of a tier that no longer exists",
                               problem="tier-required", required_tier=None)
    return Verdict.abstain(f"this {resource.kind} is for {tier.name} members", problem="tier-required",
                           required_tier={"id": str(tier.id), "key": tier.key, "name": tier.name, "rank": tier.rank})


def denial(actor: Actor | None, decision: Decision) -> Problem:
    """The refusal for a decision that did not allow: 401 ``unauthorized`` for an anonymous
    caller, 403 with the deciding rule's problem type (default ``access-denied``) otherwise; both
    carry ``reason``, ``decided_by`` and the rule's details (``required_tier``...)."""
    extra = {**decision.details, "reason": decision.reason}
    if decision.decided_by:
        extra["decided_by"] = decision.decided_by
    if actor is None:
        return Problem(401, "unauthorized", f"sign in to access this ({decision.reason})",
                       headers={"WWW-Authenticate": "Bearer"}, **extra)
    return Problem(403, decision.problem, decision.reason, **extra)


def _normalise(vote, plugin: str) -> Verdict:
    if vote is None:
        return _ABSTAIN
    if isinstance(vote, Verdict) and isinstance(vote.vote, Vote):
        return vote
    if isinstance(vote, Vote):
        return _BARE[vote]
    log.error("access hook of %s returned %r: counted as deny", plugin, vote)
    return _BARE[Vote.DENY]


_ABSTAIN = Verdict(Vote.ABSTAIN)
_BARE = {v: Verdict(v) for v in Vote}


def _combine(votes: list[tuple[str, Verdict]]) -> Decision:
    tally = tuple((p, v.vote.value) for p, v in votes)
    denied = [(p, v) for p, v in votes if v.vote is Vote.DENY]
    if denied:
        plugin, verdict = next(((p, v) for p, v in denied if v.reason), denied[0])
        return Decision(False, verdict.reason or f"denied by {', '.join(p for p, _ in denied)}", tally,
                        verdict.problem or "access-denied", dict(verdict.details), plugin)
    allowed = [p for p, v in votes if v.vote is Vote.ALLOW]
    if allowed:
        return Decision(True, f"allowed by {', '.join(allowed)}", tally, decided_by=allowed[0])
    plugin, verdict = next(((p, v) for p, v in votes if v.reason), (None, _ABSTAIN))
    return Decision(False, verdict.reason or "no rule grants access", tally, verdict.problem or "access-denied",
                    dict(verdict.details), plugin)
