"""Value types that cross the plugin boundary: what hooks receive and return.

They are plain, immutable and free of ORM state so that plugins can cache them and
tests can build them by hand.
"""
from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Mapping
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

    def qualifies(self, resource: "Resource") -> bool:
        """The core's tier rule: True for content that is not tier-gated, else whether the actor
        effectively holds a tier whose rank is at least the required tier's (an unknown required
        tier qualifies nobody)."""
        if resource.visibility != "tier":
            return True
        required = self.tier(resource.required_tier_id)
        best = self.best_rank()
        return required is not None and best is not None and best >= required.rank


@dataclass(frozen=True, slots=True)
class Verdict:
    """An access vote with its reason, which ``check_access`` may return instead of a bare
    :class:`Vote`. The reason of the rule that decides reaches the client: a denial answers with
    the problem type ``problem`` (default ``access-denied``), ``detail`` and ``reason`` = ``reason``
    and ``details`` as extra members. An abstention may carry a reason too: it is the answer when
    no rule allows (the core's tier rule says which tier is required that way, so that a plugin
    can still allow)."""

    vote: Vote
    reason: str | None = None
    problem: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def allow(cls, reason: str | None = None) -> "Verdict":
        return cls(Vote.ALLOW, reason)

    @classmethod
    def deny(cls, reason: str, *, problem: str = "access-denied", **details: Any) -> "Verdict":
        return cls(Vote.DENY, reason, problem, details)

    @classmethod
    def abstain(cls, reason: str | None = None, *, problem: str = "access-denied", **details: Any) -> "Verdict":
        return cls(Vote.ABSTAIN, reason, problem, details)


@dataclass(frozen=True, slots=True)
class Decision:
    """The combined answer. For a refusal, ``problem``, ``reason`` and ``details`` come from the
    rule that decided (``decided_by``: a plugin id or ``core``)."""

    allowed: bool
    reason: str
    votes: tuple[tuple[str, str], ...] = ()
    problem: str = "access-denied"
    details: Mapping[str, Any] = field(default_factory=dict)
    decided_by: str | None = None


@dataclass(frozen=True)
class PerkSpec:
    """A tier perk a plugin honours, returned from ``register_perks`` as ``{"name": PerkSpec(...)}``.

    ``type`` is ``bool``, ``int``, ``float`` or ``str``; ``min`` / ``max`` bound numbers (and
    ``max`` the length of strings); ``choices`` closes a string perk's values. Tier edits are
    checked against it (422 ``invalid-perks`` naming the perk), and ``GET /api/v1/perks`` lists it.
    """

    type: type
    description: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.type not in (bool, int, float, str):
            raise TypeError(f"a perk is a bool, int, float or str, not {self.type!r}")

    @property
    def type_name(self) -> str:
        return {bool: "boolean", int: "integer", float: "number", str: "string"}[self.type]

    def problem(self, name: str, value: Any) -> str | None:
        """Why ``value`` is not valid for this perk, or ``None``."""
        t = self.type
        if t is bool:
            ok = isinstance(value, bool)
        elif t is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif t is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            ok = isinstance(value, str)
        if not ok:
            return f"{name} must be {'a' if t is not int else 'an'} {self.type_name}"
        if t in (int, float):
            low, high = self.min is not None and value < self.min, self.max is not None and value > self.max
            if low or high:
                if self.min is not None and self.max is not None:
                    return f"{name} must be between {_num(self.min)} and {_num(self.max)}"
                return f"{name} must be at least {_num(self.min)}" if low else f"{name} must be at most {_num(self.max)}"
        if t is str:
            if self.max is not None and len(value) > self.max:
                return f"{name} is longer than {_num(self.max)} characters"
            if self.choices is not None and value not in self.choices:
                return f"{name} must be one of {', '.join(self.choices)}"
        return None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type_name, "description": self.description}
        if self.min is not None:
            out["minimum"] = self.min
        if self.max is not None:
            out["maximum"] = self.max
        if self.choices is not None:
            out["choices"] = list(self.choices)
        return out


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


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
class NotificationKind:
    """A notification a plugin's domain events produce (``register_notification_kinds``).

    ``event_type`` is the domain event that triggers it (``when``, if given, filters those events:
    ``when(event) -> bool``). ``template`` maps ``"title"``, ``"body"`` and optionally ``"url"`` to
    ``str.format`` strings over the event's ``data`` plus ``artist_id``, ``artist_name``,
    ``subject_id`` and ``actor_id``. ``recipients`` is either a declared audience the core
    resolves through ``audience_members`` (``"followers"``, ``"members"``, ``"tier:N"``, ...) or
    ``"subject"`` (the event's subject user) / ``"actor"`` (its actor), or a callable
    ``recipients(platform, event) -> iterable of user ids``. ``default_channels`` are on unless
    the recipient turns them off; ``digestible`` kinds may be batched into a digest."""

    id: str
    title: str
    event_type: str
    template: Mapping[str, str]
    recipients: str | Callable[..., Any]
    default_channels: tuple[str, ...] = ("inbox",)
    digestible: bool = False
    when: Callable[[Any], bool] | None = None


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
    """One slice taken from a payment: ``amount`` in the payment's minor units.

    ``party`` names who takes it (``"platform"`` for the platform's fee, a plugin id for a
    plugin's slice). ``payee_artist_id`` names an artist the slice is paid out to (their payout
    account; e.g. a co-op member): a payment whose preview split has any payee is charged on the
    platform, and the payee's plugin moves the money (``transfer`` capability). ``data`` is the
    plugin's own detail (JSON-serialisable), kept with the payment."""

    party: str
    amount: int
    reason: str
    payee_artist_id: uuid.UUID | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PaymentContext:
    """What is being paid, for ``revenue_shares``: the recorded payment (``None`` for a preview,
    e.g. at checkout). ``period_start`` / ``period_end`` are the paid period of the invoice
    (subscription providers fill them), ``data`` the provider's extra facts (e.g. ``subscription``,
    ``charge``)."""

    provider: str
    external_id: str
    user_id: uuid.UUID | None = None
    tier_id: uuid.UUID | None = None
    occurred_at: datetime | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


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


# --------------------------------------------------------------------------- payments
# One provider object per id, behind one registry (``platform.payments``): see docs/plugins.md
# "Payment providers" and docs/architecture.md "Payment providers".

@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """A webhook delivery whose signature a provider verified (``PaymentProvider.verify_webhook``).

    ``id`` is the provider's event id: the idempotency key (a replayed delivery carries the same
    one). ``object_kind`` / ``object_id`` name what the event is about. Treat ``payload`` as a
    record of what was sent, not as the truth: before acting, fetch the object from the provider
    (``PaymentProvider.fetch``), as Stripe recommends, so a stale or out-of-order delivery never
    overwrites newer state.
    """

    provider: str
    id: str
    type: str
    object_kind: str | None = None
    object_id: str | None = None
    created: int | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SubscriptionRef:
    """A subscription at a provider, as the caller knows it: what ``preview_change``, ``change``,
    ``cancel`` and ``resume`` act on. ``tier_id`` is the tier paid for now."""

    provider: str
    external_id: str
    user_id: uuid.UUID
    artist_id: uuid.UUID
    tier_id: uuid.UUID
    interval: str = "month"
    customer_id: str | None = None


@runtime_checkable
class PaymentProvider(Protocol):
    """A payment provider: returned from ``register_payment_providers``, held by the core's one
    registry (``platform.payments``) and dispatched to by ``id``; nothing else dispatches on a
    provider id. Every method is called from a worker thread (blocking I/O is fine) and may also
    return an awaitable. Failures are :class:`~musicconnect.errors.Problem` documents.

    A provider that lacks a method (or sets it to ``None``) does not offer it: the core answers
    501 ``payment-provider-unsupported`` for it. ``verify_webhook`` + ``receive_event`` replace
    the first contract's ``handle_webhook(platform, *, headers, body)``, which the core still
    calls for a provider that has only that.
    """

    id: str
    label: str

    def checkout(self, platform: Any, *, user_id: uuid.UUID, tier_id: uuid.UUID,
                 interval: str, success_url: str, cancel_url: str) -> Mapping[str, Any]:
        """Start a checkout of ``tier_id`` (``interval`` ``month`` or ``year``); returns at least
        ``{"id": ..., "url": ...}`` (the page to send the fan to) and may add ``expires_at``."""

    def portal(self, platform: Any, *, user_id: uuid.UUID, return_url: str) -> Mapping[str, Any]:
        """A self-service page for the customer; returns at least ``{"url": ...}``."""

    def preview_change(self, platform: Any, *, subscription: SubscriptionRef,
                       tier_id: uuid.UUID | None) -> Mapping[str, Any]:
        """The next invoice, and with ``tier_id`` the next invoice after moving to that tier:
        ``{"currency", "amount_due", "lines": [{"description", "amount", "proration"}],
        "next_payment_at"}`` (amounts in minor units)."""

    def change(self, platform: Any, *, subscription: SubscriptionRef, tier_id: uuid.UUID) -> Mapping[str, Any]:
        """Move the subscription to another tier of the same artist (the provider decides the
        proration); returns the provider's subscription object (at least ``{"id": ...}``)."""

    def cancel(self, platform: Any, *, subscription: SubscriptionRef, at_period_end: bool = True) -> Mapping[str, Any]:
        """Cancel (at the end of the paid period by default); returns the subscription object."""

    def resume(self, platform: Any, *, subscription: SubscriptionRef) -> Mapping[str, Any]:
        """Undo a cancellation at period end; returns the subscription object."""

    def verify_webhook(self, platform: Any, *, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        """Check the signature of one delivery over the raw ``body`` (``headers`` lower-cased)
        and return the verified event. A missing or wrong signature raises ``Problem(400,
        "invalid-signature", ...)``; a signed body that is not an event ``Problem(400,
        "invalid-payload", ...)``. Must write nothing."""

    def receive_event(self, platform: Any, *, event: ProviderEvent) -> Mapping[str, Any]:
        """Act on (or store and queue) one verified event; idempotent by ``event.id``: a replay
        changes nothing and answers ``{"duplicate": True}``. Do not trust ``event.payload``
        beyond its ids: :meth:`fetch` the object."""

    def fetch(self, platform: Any, *, kind: str, object_id: str) -> Mapping[str, Any]:
        """The provider's current copy of an object (``subscription``, ``invoice``, ``account``,
        ...); ``Problem(404, "payment-object-not-found", ...)`` when it has none."""

    def transfer(self, platform: Any, *, artist_id: uuid.UUID, amount: int, currency: str,
                 source_ref: str | None, idempotency_key: str,
                 metadata: Mapping[str, str] | None = None) -> Mapping[str, Any]:
        """Move ``amount`` (minor units) of a payment the platform received to ``artist_id``'s
        payout account; ``source_ref`` is the payment's ``external_id`` (the invoice) the money
        comes from. Idempotent by ``idempotency_key``. Returns ``{"id", "status"}``; an artist
        without a payout-enabled account is ``Problem(409, "payout-account-missing")`` and
        nothing moves."""

    def reverse_transfer(self, platform: Any, *, transfer_id: str, amount: int,
                         idempotency_key: str) -> Mapping[str, Any]:
        """Take back ``amount`` of an earlier transfer (a refund or dispute clawback); never
        more than is left of it (``Problem(409, "transfer-over-reversed")``). Returns
        ``{"id", "status"}``."""


# --------------------------------------------------------------------------- privacy and trust
# A person's data (GDPR Art. 15, 17, 20) is held by many plugins: each answers for its own rows
# through ``export_user_data`` / ``erase_user_data``; uploads and activity are screened through
# ``screen_audio`` / ``screen_activity``. See docs/privacy.md and docs/moderation.md.


@dataclass(frozen=True, slots=True)
class ExportFile:
    """A file in a data export: ``path`` inside the plugin's folder of the archive, and either the
    bytes (``data``) or an object of the platform's storage (``storage_key``) to copy in."""

    path: str
    data: bytes | None = None
    storage_key: str | None = None
    content_type: str = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class ExportPart:
    """One plugin's part of a person's data export: ``records`` are JSON-able rows by kind
    (``{"comments": [{...}, ...]}``), ``files`` are copied into the archive, ``notes`` say in words
    what the rows mean (they go into the archive's README)."""

    records: Mapping[str, list[Mapping[str, Any]]]
    files: tuple[ExportFile, ...] = ()
    notes: str = ""


@dataclass(frozen=True, slots=True)
class Retained:
    """A record kept after an erasure, and why: ``what`` (e.g. "invoices"), ``why`` (the legal
    ground, e.g. "tax law: invoices are kept 10 years (AO §147)"), ``until`` when it goes."""

    what: str
    why: str
    count: int = 0
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class ErasureReport:
    """What one plugin erased (``erased``: rows by kind, deleted or anonymised), what it kept and
    why (``retained``), and the storage objects to delete once the erasure is committed
    (``storage_keys``: media of an artist who leaves, images, exports; a key ending in ``/`` is a
    prefix, listed when the objects are deleted, so what is written after the erasure goes too)."""

    erased: Mapping[str, int] = field(default_factory=dict)
    retained: tuple[Retained, ...] = ()
    storage_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Screening:
    """A screen's verdict on an upload or an activity: ``action`` is ``allow``, ``flag`` (let it
    through, queue it for a moderator), ``review`` (hold it until a moderator decides), ``limit``
    (refuse this one, 429) or ``block`` (refuse); ``reason`` a stable slug, ``detail`` the words,
    ``score`` how sure (0..1), ``data`` what a moderator needs (e.g. the matched track)."""

    action: str
    reason: str = ""
    detail: str = ""
    score: float | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    #: from the mildest to the strictest: the strictest of several screens' verdicts wins
    ORDER = ("allow", "flag", "review", "limit", "block")

    def __post_init__(self) -> None:
        if self.action not in self.ORDER:
            raise ValueError(f"a screening's action is one of {self.ORDER}, not {self.action!r}")


def strictest(verdicts) -> Screening:
    """The strictest of several verdicts (``allow`` when there are none)."""
    out = Screening("allow")
    for v in verdicts:
        if v is not None and Screening.ORDER.index(v.action) > Screening.ORDER.index(out.action):
            out = v
    return out
