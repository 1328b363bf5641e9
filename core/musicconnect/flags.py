"""Feature flags: a built-in OpenFeature provider backed by the database, and the
``platform.flags`` service every plugin uses.

A flag lives in one environment (``MC_ENV``) and has typed variants (``{"on": true, "off": false}``
for a boolean flag; strings, numbers or JSON objects otherwise), a default variant and ordered
rules. A rule matches a user by role and/or tier and lets a stable percentage of the matching
users in (``sha256(flag key, rule seed, user id)``: a user let in at 10 % stays in at 20 %); it
then serves one variant or splits users between variants by weight (a second, independent hash).
The first matching rule wins; no match, a disabled flag or an unknown user serves the default.

Evaluation never queries the database: the flags of the environment are one snapshot in the
platform's coherent cache (``("flags", env)``), dropped in every process through the cache's
pub/sub when a flag changes; tier rules read the user's entitlements through the core's cached
entitlement service. A rule may name an experiment: every evaluation that resolves through it
calls the exposure listeners (``platform.flags.add_exposure_listener``), which must be cheap.
"""
from __future__ import annotations

import hashlib
import logging
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from .db import on_commit
from .errors import Conflict, Invalid, NotFound
from .flag_models import FLAG_KINDS, FeatureFlag

if TYPE_CHECKING:
    from .platform import Platform

__all__ = ["Exposure", "FlagEvaluation", "FlagRule", "FlagsService", "bucket"]

log = logging.getLogger("musicconnect.flags")
KEY_RE = re.compile(r"[a-z][a-z0-9_.-]{0,99}")
VARIANT_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
ROLES = ("fan", "artist", "admin")
BUCKETS = 10_000  # percentages are kept to 0.01 %


def bucket(*parts: Any) -> int:
    """A stable bucket in ``[0, 10000)`` for the parts (flag key, seed, user id)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


class FlagRule(BaseModel):
    """One targeting rule. Every condition given must hold (roles: any of them; tiers: the user
    holds one of these tiers, or a higher-ranked tier of the same artist, now)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "beta artists", "roles": ["artist"], "percentage": 25, "variant": "on"}]})

    name: str = Field("", max_length=100, description="a label for operators")
    roles: list[str] | None = Field(None, description="fan / artist / admin; none = any role")
    tiers: list[uuid.UUID] | None = Field(None, description="tier ids (at least one); omit it for any user")
    percentage: float = Field(100.0, ge=0, le=100, description="share of the matching users let in (stable per user)")
    variant: str | None = Field(None, description="the variant served; or give `split`")
    split: dict[str, float] | None = Field(None, description="variant -> weight: users split between variants")
    experiment: str | None = Field(None, max_length=100, description="the experiment this rule runs (exposures logged)")
    seed: str | None = Field(None, max_length=100, description="hash seed (default: the flag key)")


@dataclass(frozen=True, slots=True)
class FlagEvaluation:
    """The outcome of evaluating one flag for one user."""

    key: str
    value: Any
    variant: str | None
    reason: str  # "targeting_match" | "split" | "default" | "disabled" | "unknown"
    rule: int | None = None
    experiment: str | None = None


@dataclass(frozen=True, slots=True)
class Exposure:
    """A user was served a variant through an experiment's rule (passed to exposure listeners)."""

    experiment: str
    flag_key: str
    variant: str
    user_id: uuid.UUID
    at: datetime


@dataclass(frozen=True, slots=True)
class _Rule:
    roles: frozenset[str] | None
    tiers: tuple[tuple[uuid.UUID, uuid.UUID, int], ...] | None  # (tier id, artist id, rank when compiled)
    tier_missing: bool
    threshold: int
    variant: str | None
    split: tuple[tuple[str, int], ...] | None  # (variant, cumulative bucket bound)
    experiment: str | None
    seed: str


@dataclass(frozen=True, slots=True)
class _Flag:
    key: str
    kind: str
    variants: dict[str, Any]
    default_variant: str
    enabled: bool
    client_visible: bool
    rules: tuple[_Rule, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class _Who:
    user_id: uuid.UUID | None
    role: str | None


def _compile(row: FeatureFlag, tiers: dict[uuid.UUID, tuple[uuid.UUID, int]]) -> _Flag:
    rules = []
    for raw in row.rules or []:
        r = FlagRule.model_validate(raw)
        split = None
        if r.split:
            total = sum(w for w in r.split.values() if w > 0)
            acc, bounds = 0.0, []
            for name, w in r.split.items():
                acc += max(w, 0)
                bounds.append((name, round(acc / total * BUCKETS) if total else 0))
            split = tuple(bounds)
        tier_list = None
        if r.tiers is not None:
            tier_list = tuple((t, *tiers[t]) for t in r.tiers if t in tiers)
        # a stored empty list (refused since) or only deleted tiers: the rule matches nobody
        rules.append(_Rule(frozenset(r.roles) if r.roles is not None else None, tier_list,
                           r.tiers is not None and not tier_list, round(r.percentage * BUCKETS / 100), r.variant, split,
                           r.experiment, r.seed or row.key))
    return _Flag(row.key, row.kind, dict(row.variants), row.default_variant, row.enabled, row.client_visible,
                 tuple(rules))


def _make_provider(service: "FlagsService"):
    from openfeature.exception import ErrorCode
    from openfeature.flag_evaluation import FlagResolutionDetails, Reason
    from openfeature.provider import AbstractProvider, Metadata

    reasons = {"targeting_match": Reason.TARGETING_MATCH, "split": Reason.SPLIT, "default": Reason.DEFAULT,
               "disabled": Reason.DISABLED, "unknown": Reason.ERROR}

    class MusicConnectProvider(AbstractProvider):
        """OpenFeature provider: MusicConnect's database-backed flags (``targeting_key`` = user id;
        attribute ``role`` optional)."""

        def get_metadata(self) -> Metadata:
            return Metadata(name="musicconnect")

        def _resolve(self, key, default, ctx, types):
            who = service._who_from_context(ctx)
            ev = service.evaluate(key, who, default)
            if ev.reason == "unknown":
                return FlagResolutionDetails(default, error_code=ErrorCode.FLAG_NOT_FOUND,
                                             error_message=f"no flag {key!r}", reason=Reason.ERROR)
            if not isinstance(ev.value, types) or (bool not in types and isinstance(ev.value, bool)):
                return FlagResolutionDetails(default, error_code=ErrorCode.TYPE_MISMATCH,
                                             error_message=f"flag {key!r} is not of this type", reason=Reason.ERROR)
            meta = {"experiment": ev.experiment} if ev.experiment else {}
            return FlagResolutionDetails(ev.value, reason=reasons[ev.reason], variant=ev.variant, flag_metadata=meta)

        def resolve_boolean_details(self, flag_key, default_value, evaluation_context=None):
            return self._resolve(flag_key, default_value, evaluation_context, (bool,))

        def resolve_string_details(self, flag_key, default_value, evaluation_context=None):
            return self._resolve(flag_key, default_value, evaluation_context, (str,))

        def resolve_integer_details(self, flag_key, default_value, evaluation_context=None):
            return self._resolve(flag_key, default_value, evaluation_context, (int,))

        def resolve_float_details(self, flag_key, default_value, evaluation_context=None):
            return self._resolve(flag_key, default_value, evaluation_context, (float, int))

        def resolve_object_details(self, flag_key, default_value, evaluation_context=None):
            return self._resolve(flag_key, default_value, evaluation_context, (dict, list))

    return MusicConnectProvider()


class FlagsService:
    """``platform.flags``: evaluate flags (no database query per evaluation) and manage them."""

    def __init__(self, platform: "Platform"):
        self.platform = platform
        self._listeners: list[Callable[[Exposure], None]] = []
        self._lock = threading.Lock()
        self._client = None

    @property
    def environment(self) -> str:
        return self.platform.settings.env

    # ---------------------------------------------------------------- evaluation
    def enabled(self, key: str, user: Any = None, default: bool = False) -> bool:
        """Is boolean flag ``key`` on for ``user`` (an Actor, a User, a user id or None)?"""
        value = self.evaluate(key, user, default).value
        return value if isinstance(value, bool) else default

    def variant(self, key: str, user: Any = None, default: str | None = None) -> str | None:
        """The variant name ``user`` is served (``default`` for an unknown flag)."""
        ev = self.evaluate(key, user, None)
        return ev.variant if ev.variant is not None else default

    def value(self, key: str, user: Any = None, default: Any = None) -> Any:
        """The value of the variant ``user`` is served."""
        return self.evaluate(key, user, default).value

    def evaluate(self, key: str, user: Any = None, default: Any = None, *, expose: bool = True) -> FlagEvaluation:
        """Evaluate flag ``key`` for ``user``: variant, value, reason, the rule and experiment.
        ``expose=False``: a look (an operator's check), not an exposure of an experiment."""
        flag = self._snapshot().get(key)
        if flag is None:
            return FlagEvaluation(key, default, None, "unknown")
        if not flag.enabled:
            return self._default(flag, "disabled")
        who = user if isinstance(user, _Who) else self._who(user)
        ents = None
        for i, rule in enumerate(flag.rules):
            if rule.roles is not None:
                role = who.role if who.role is not None or who.user_id is None else self._role_of(who.user_id)
                if role not in rule.roles:
                    continue
            if rule.tier_missing:
                continue
            if rule.tiers:
                if who.user_id is None:
                    continue
                if ents is None:
                    ents = self.platform.entitlements.for_user_many(who.user_id, {a for _, a, _ in rule.tiers})
                if not self._holds(ents, rule.tiers):
                    continue
            if rule.threshold < BUCKETS:
                if who.user_id is None or bucket(flag.key, rule.seed, who.user_id) >= rule.threshold:
                    continue
            if rule.split:
                if who.user_id is None:
                    continue
                b = bucket(flag.key, rule.seed, "split", who.user_id)
                name = next((n for n, bound in rule.split if b < bound), rule.split[-1][0])
                reason = "split"
            else:
                name, reason = rule.variant or flag.default_variant, "targeting_match"
            if name not in flag.variants:
                continue
            if rule.experiment and expose and who.user_id is not None:
                self._expose(Exposure(rule.experiment, flag.key, name, who.user_id, self.platform.clock.now()))
            return FlagEvaluation(flag.key, flag.variants[name], name, reason, i, rule.experiment)
        return self._default(flag, "default")

    def client_flags(self, user: Any) -> dict[str, dict[str, Any]]:
        """Every client-visible flag of this environment evaluated for ``user``."""
        out = {}
        for key, flag in sorted(self._snapshot().items()):
            if flag.client_visible:
                ev = self.evaluate(key, user)
                out[key] = {"value": ev.value, "variant": ev.variant}
        return out

    def client(self):
        """An OpenFeature client bound to this platform's provider (``openfeature-sdk``)."""
        if self._client is None:
            from openfeature import api

            domain = f"musicconnect-{id(self.platform):x}"
            api.set_provider(_make_provider(self), domain=domain)
            self._client = api.get_client(domain=domain)
        return self._client

    def provider(self):
        """A new OpenFeature provider over this service (to register under a domain of your own)."""
        return _make_provider(self)

    # ---------------------------------------------------------------- exposures
    def add_exposure_listener(self, fn: Callable[[Exposure], None]) -> None:
        """Call ``fn(exposure)`` whenever an evaluation resolves through a rule that names an
        experiment. Called on the evaluating thread: keep it cheap (queue the write); errors are logged."""
        with self._lock:
            if fn not in self._listeners:
                self._listeners.append(fn)

    def remove_exposure_listener(self, fn: Callable[[Exposure], None]) -> None:
        with self._lock:
            if fn in self._listeners:
                self._listeners.remove(fn)

    def _expose(self, exposure: Exposure) -> None:
        for fn in list(self._listeners):
            try:
                fn(exposure)
            except Exception:
                log.exception("exposure listener %r failed", fn)

    # ---------------------------------------------------------------- internals
    def _default(self, flag: _Flag, reason: str) -> FlagEvaluation:
        return FlagEvaluation(flag.key, flag.variants.get(flag.default_variant), flag.default_variant, reason)

    def _holds(self, ents, tiers) -> bool:
        """Does the user hold one of ``tiers`` or a higher-ranked tier of the same artist? Ranks are
        read now through the core's cached tier lookups (dropped when a tier changes), so a rank
        change applies without a flag change; the compiled rank is the fallback."""
        now = self.platform.clock.now()
        infos = self.platform.access.tiers_many({a for _, a, _ in tiers})
        ranks = {t.id: t.rank for v in infos.values() for t in v}
        for tier_id, artist_id, rank in tiers:
            need = ranks.get(tier_id, rank)
            for e in ents.get(artist_id, ()):
                if ranks.get(e.tier_id, e.tier_rank) >= need and e.is_effective(now):
                    return True
        return False

    def _who(self, user: Any) -> _Who:
        if user is None:
            return _Who(None, None)
        if isinstance(user, uuid.UUID):
            return _Who(user, None)
        if isinstance(user, str):
            try:
                return _Who(uuid.UUID(user), None)
            except ValueError:
                return _Who(None, None)
        uid = getattr(user, "user_id", None) or getattr(user, "id", None)
        role = getattr(user, "role", None)
        return _Who(uid if isinstance(uid, uuid.UUID) else None, role)

    def _who_from_context(self, ctx) -> _Who:
        if ctx is None or not ctx.targeting_key:
            return _Who(None, None)
        who = self._who(ctx.targeting_key)
        role = (ctx.attributes or {}).get("role")
        return _Who(who.user_id, role if isinstance(role, str) else None)

    def _role_of(self, user_id: uuid.UUID) -> str | None:
        """The role of a user given by id: the request layer's cached user when there is one, else
        one query, cached (``MC_CACHE_TTL`` bounds a role change)."""
        cache = self.platform.cache
        snap = cache.get(("user", user_id))
        if snap is not None:
            return snap.role
        role = cache.get(("flag-role", user_id))
        if role is None:
            from .models import User

            gen = cache.generation()
            with self.platform.db.read() as s:
                role = s.scalar(select(User.role).where(User.id == user_id)) or ""
            cache.set(("flag-role", user_id), role, generation=gen)
        return role or None

    def _snapshot(self) -> dict[str, _Flag]:
        cache = self.platform.cache
        key = ("flags", self.environment)
        hit = cache.get(key)
        if hit is not None:
            return hit
        gen = cache.generation()
        value = self.load(self.environment)
        cache.set(key, value, generation=gen)
        return value

    def load(self, environment: str) -> dict[str, _Flag]:
        """Every flag of ``environment``, compiled (one query for flags, one for their tiers)."""
        from .models import Tier

        with self.platform.db.read() as s:
            rows = list(s.scalars(select(FeatureFlag).where(FeatureFlag.environment == environment)))
            tier_ids = {uuid.UUID(str(t)) for r in rows for raw in r.rules or [] for t in raw.get("tiers") or []}
            tiers = {t.id: (t.artist_id, t.rank) for t in s.execute(
                select(Tier.id, Tier.artist_id, Tier.rank).where(Tier.id.in_(tier_ids)))} if tier_ids else {}
            return {r.key: _compile(r, tiers) for r in rows}

    def refresh(self) -> None:
        """Drop the cached flags here and in every process."""
        key = ("flags", self.environment)
        self.platform.cache.invalidate(key)
        self.platform.invalidate(key)

    # ---------------------------------------------------------------- management
    def list(self, session: Session, environment: str | None = None) -> list[FeatureFlag]:
        env = environment or self.environment
        return list(session.scalars(select(FeatureFlag).where(FeatureFlag.environment == env)
                                    .order_by(FeatureFlag.key)))

    def get(self, session: Session, key: str, environment: str | None = None, *, lock: bool = False) -> FeatureFlag:
        q = select(FeatureFlag).where(FeatureFlag.environment == (environment or self.environment),
                                      FeatureFlag.key == key)
        if lock:
            q = q.with_for_update()
        row = session.scalars(q).first()
        if row is None:
            raise NotFound(f"flag {key!r}")
        return row

    def create(self, session: Session, key: str, *, kind: str = "boolean", variants: dict[str, Any] | None = None,
               default_variant: str | None = None, description: str = "", rules: list | None = None,
               enabled: bool = True, client_visible: bool = False, environment: str | None = None,
               actor_id: uuid.UUID | None = None) -> FeatureFlag:
        """A new flag; a boolean flag defaults to variants ``on``/``off``, serving ``off``."""
        env = environment or self.environment
        if not KEY_RE.fullmatch(key or ""):
            raise Invalid("a flag key is lower-case letters, digits, '_', '.', '-' (starting with a letter), "
                          "at most 100 characters")
        if kind not in FLAG_KINDS:
            raise Invalid(f"kind must be one of {', '.join(FLAG_KINDS)}")
        if variants is None:
            if kind != "boolean":
                raise Invalid(f"a {kind} flag needs its variants")
            variants = {"on": True, "off": False}
        default_variant = default_variant or ("off" if kind == "boolean" and "off" in variants else next(iter(variants), ""))
        if session.scalars(select(FeatureFlag.id).where(FeatureFlag.environment == env,
                                                        FeatureFlag.key == key)).first() is not None:
            raise Conflict("flag-exists", f"flag {key!r} already exists in {env}")
        now = self.platform.clock.now()
        row = FeatureFlag(environment=env, key=key, kind=kind, description=description, variants={},
                          default_variant="", rules=[], enabled=enabled, client_visible=client_visible, version=1,
                          created_at=now, updated_at=now, updated_by=actor_id)
        self._apply(session, row, variants=variants, default_variant=default_variant, rules=rules or [])
        session.add(row)
        self._changed(session, row, "created", actor_id)
        return row

    def update(self, session: Session, key: str, *, environment: str | None = None,
               actor_id: uuid.UUID | None = None, expect_version: int | None = None, **changes: Any) -> FeatureFlag:
        """Change a flag (``variants``, ``default_variant``, ``rules``, ``enabled``,
        ``client_visible``, ``description``); ``expect_version`` refuses a stale edit (409)."""
        row = self.get(session, key, environment, lock=True)
        if expect_version is not None and expect_version != row.version:
            raise Conflict("flag-version-conflict", f"flag {key!r} is at version {row.version}, not {expect_version}")
        changes = {k: v for k, v in changes.items() if v is not None}
        for simple in ("enabled", "client_visible", "description"):
            if simple in changes:
                setattr(row, simple, changes.pop(simple))
        self._apply(session, row, variants=changes.get("variants", row.variants),
                    default_variant=changes.get("default_variant", row.default_variant),
                    rules=changes.get("rules", row.rules))
        row.version += 1
        row.updated_at = self.platform.clock.now()
        row.updated_by = actor_id
        self._changed(session, row, "updated", actor_id)
        return row

    def rollout(self, session: Session, key: str, percentage: float, *, variant: str | None = None,
                environment: str | None = None, actor_id: uuid.UUID | None = None) -> FeatureFlag:
        """Set the percentage of the flag's rule named ``rollout`` (added last when missing, serving
        ``variant``, ``on`` for a boolean flag). Growing it keeps everyone already in."""
        if not 0 <= percentage <= 100:
            raise Invalid("a percentage is between 0 and 100")
        row = self.get(session, key, environment, lock=True)
        rules = [dict(r) for r in row.rules or []]
        found = next((r for r in rules if r.get("name") == "rollout"), None)
        if found is None:
            serve = variant or ("on" if row.kind == "boolean" else None)
            if serve is None:
                raise Invalid("say which variant the rollout serves (variant)")
            rules.append({"name": "rollout", "percentage": percentage, "variant": serve})
        else:
            found["percentage"] = percentage
            if variant:
                found["variant"] = variant
        return self.update(session, key, environment=environment, actor_id=actor_id, rules=rules)

    def delete(self, session: Session, key: str, *, environment: str | None = None,
               actor_id: uuid.UUID | None = None) -> None:
        row = self.get(session, key, environment, lock=True)
        self._changed(session, row, "deleted", actor_id)
        session.delete(row)

    def _apply(self, session: Session, row: FeatureFlag, *, variants: dict[str, Any], default_variant: str,
               rules: list) -> None:
        if not variants:
            raise Invalid("a flag needs at least one variant")
        for name, value in variants.items():
            if not VARIANT_RE.fullmatch(name):
                raise Invalid(f"variant name {name!r}: letters, digits, '_', '.', '-' (1-64)")
            if not _typed(row.kind, value):
                raise Invalid(f"variant {name!r}: a {row.kind} flag's values are {row.kind}s")
        if default_variant not in variants:
            raise Invalid(f"the default variant {default_variant!r} is not one of the variants")
        checked = []
        for i, raw in enumerate(rules):
            r = raw if isinstance(raw, FlagRule) else FlagRule.model_validate(raw)
            if r.roles is not None and not set(r.roles) <= set(ROLES):
                raise Invalid(f"rule {i}: roles are {', '.join(ROLES)}")
            if (r.variant is None) == (r.split is None):
                raise Invalid(f"rule {i}: give either a variant or a split")
            named = [r.variant] if r.variant is not None else list(r.split or {})
            unknown = [n for n in named if n not in variants]
            if unknown:
                raise Invalid(f"rule {i}: unknown variant(s) {', '.join(unknown)}")
            if r.split is not None and (any(w < 0 for w in r.split.values()) or sum(r.split.values()) <= 0):
                raise Invalid(f"rule {i}: split weights are non-negative and not all zero")
            if r.tiers is not None and not r.tiers:
                raise Invalid(f"rule {i}: tiers is an empty list; omit tiers to match any user, or name at least one tier")
            if r.tiers:
                from .models import Tier

                found = set(session.scalars(select(Tier.id).where(Tier.id.in_(r.tiers))))
                if missing := [str(t) for t in r.tiers if t not in found]:
                    raise Invalid(f"rule {i}: unknown tier(s) {', '.join(missing)}")
            checked.append(r.model_dump(mode="json", exclude_none=True, exclude_defaults=False))
        row.variants = dict(variants)
        row.default_variant = default_variant
        row.rules = checked

    def _changed(self, session: Session, row: FeatureFlag, change: str, actor_id: uuid.UUID | None) -> None:
        from .events import emit

        emit(self.platform, session, f"flag.{change}", actor_id=actor_id, subject=("flag", row.key),
             data={"environment": row.environment, "version": row.version})
        key = ("flags", row.environment)
        self.platform.cache.invalidate(key)
        on_commit(session, lambda: self.platform.invalidate(key))


def _typed(kind: str, value: Any) -> bool:
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, (dict, list))


def serialize(row: FeatureFlag) -> dict[str, Any]:
    """A flag as the admin API and the CLI show it."""
    return {"key": row.key, "environment": row.environment, "kind": row.kind, "description": row.description,
            "variants": row.variants, "default_variant": row.default_variant, "rules": row.rules,
            "enabled": row.enabled, "client_visible": row.client_visible, "version": row.version,
            "updated_at": row.updated_at.isoformat() if row.updated_at else None,
            "updated_by": str(row.updated_by) if row.updated_by else None}
