"""Value types that cross the plugin boundary: what hooks receive and return.

They are plain, immutable and free of ORM state so that plugins can cache them and
tests can build them by hand.
"""
from __future__ import annotations

import enum
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable


class Vote(enum.Enum):
    """An access hook's answer. ``None`` (abstain) is also accepted from a hook."""

    ALLOW = "allow"
    DENY = "deny"
    ABSTAIN = "abstain"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is asking. ``scopes`` is ``("*",)`` for interactive sessions, the token's scopes otherwise."""

    user_id: uuid.UUID
    role: str
    artist_id: uuid.UUID | None = None
    scopes: tuple[str, ...] = ("*",)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def has_scope(self, scope: str) -> bool:
        return "*" in self.scopes or scope in self.scopes


@dataclass(frozen=True, slots=True)
class Resource:
    """What is asked for: a snapshot of a content item (or another artist-owned thing)."""

    kind: str
    id: uuid.UUID
    artist_id: uuid.UUID
    visibility: str = "public"
    status: str = "ready"
    required_tier_id: uuid.UUID | None = None
    publish_at: datetime | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TierInfo:
    id: uuid.UUID
    key: str
    name: str
    rank: int
    perks: Mapping[str, Any]
    is_active: bool = True


@dataclass(frozen=True, slots=True)
class EntitlementInfo:
    id: uuid.UUID
    user_id: uuid.UUID
    artist_id: uuid.UUID
    tier_id: uuid.UUID
    tier_rank: int
    source: str
    source_ref: str
    status: str
    starts_at: datetime
    expires_at: datetime | None

    def is_effective(self, now: datetime) -> bool:
        """Active, past due (grace) or cancelled-at-period-end, and inside its validity window."""
        if self.status not in ("active", "past_due", "cancelled"):
            return False
        if now < self.starts_at:
            return False
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True, slots=True)
class AccessContext:
    """Everything an access hook needs, prefetched by the core so hooks need no I/O."""

    now: datetime
    entitlements: tuple[EntitlementInfo, ...]
    tiers: tuple[TierInfo, ...]

    def effective(self) -> tuple[EntitlementInfo, ...]:
        return tuple(e for e in self.entitlements if e.is_effective(self.now))

    def best_rank(self) -> int | None:
        ranks = [e.tier_rank for e in self.effective()]
        return max(ranks) if ranks else None

    def tier(self, tier_id: uuid.UUID | None) -> TierInfo | None:
        return next((t for t in self.tiers if t.id == tier_id), None)

    def perks(self) -> dict[str, Any]:
        """Union of the perks of the tiers the actor effectively holds (higher rank wins on a clash)."""
        held = {e.tier_id for e in self.effective()}
        merged: dict[str, Any] = {}
        for t in sorted((t for t in self.tiers if t.id in held), key=lambda t: t.rank):
            merged.update(t.perks)
        return merged


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str
    votes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ContentKind:
    """A kind of content a plugin offers.

    ``data_model`` is the schema of the ``data`` a client may send for it: a pydantic model
    (declare ``model_config = ConfigDict(extra="forbid")`` so unknown fields are refused); the
    content API validates client data with it and stores what the model dumps. A kind without a
    ``data_model`` accepts no client data at all (server-side facts such as storage keys are
    never taken from a client). ``validate(data) -> data`` runs after it and may raise
    ``Problem``; ``creatable`` says whether the generic content API may create it (uploads say no).
    """

    name: str
    title: str
    description: str = ""
    creatable: bool = True
    validate: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    data_model: Any = None


@dataclass(frozen=True, slots=True)
class MetricWindow:
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Metric:
    """A figure a dashboard can list and compute for one artist over a time window.

    ``compute(platform, artist_id, window)`` returns a number, or a JSON-able list/dict for
    tables and series; it may return an awaitable.
    """

    id: str
    title: str
    description: str
    compute: Callable[..., Any]
    unit: str = "count"


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A background job a plugin offers. The function is called as ``fn(ctx, **kwargs)`` where
    ``ctx`` (:class:`musicconnect.jobs.JobContext`) reports progress. ``name`` is local to the
    plugin; the full actor name is ``<plugin>.<name>``. With ``every_seconds`` the job also runs
    on a schedule: once per period, platform-wide (called without arguments)."""

    name: str
    fn: Callable[..., Any]
    max_retries: int = 3
    time_limit_ms: int = 60 * 60 * 1000
    min_backoff_ms: int = 1000
    every_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class RevenueShare:
    """One slice taken from a payment: ``amount`` in the payment's minor units."""

    party: str
    amount: int
    reason: str


@dataclass(frozen=True, slots=True)
class PaymentEvent:
    """A normalised payment / subscription fact from a provider, for ``on_payment_event``.

    ``type`` is one of ``subscription.created``, ``subscription.updated``,
    ``subscription.cancelled``, ``subscription.ended``, ``payment.succeeded``,
    ``payment.failed``, ``payment.refunded``, ``payment.disputed``.
    """

    type: str
    provider: str
    user_id: uuid.UUID | None
    artist_id: uuid.UUID | None
    tier_id: uuid.UUID | None = None
    amount: int | None = None
    currency: str | None = None
    external_id: str | None = None
    occurred_at: datetime | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class PaymentProvider(Protocol):
    """A payment provider, registered with ``register_payment_providers`` and dispatched to by ``id``."""

    id: str
    label: str

    def checkout(self, platform: Any, *, user_id: uuid.UUID, tier_id: uuid.UUID,
                 interval: str, success_url: str, cancel_url: str) -> Mapping[str, Any] | Awaitable[Mapping[str, Any]]:
        """Start a checkout; returns at least ``{"url": ...}``."""

    def portal(self, platform: Any, *, user_id: uuid.UUID, return_url: str) -> Mapping[str, Any] | Awaitable[Mapping[str, Any]]:
        """A self-service page for the customer; returns at least ``{"url": ...}``."""

    def handle_webhook(self, platform: Any, *, headers: Mapping[str, str], body: bytes) -> Any:
        """Verify and accept one webhook delivery; raises ``Problem`` on a bad signature."""
