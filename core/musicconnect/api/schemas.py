"""Request and response bodies of the core API (they are what OpenAPI shows)."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from ..models import Artist, Entitlement, Tier, User

#: the largest ``offset`` a list route accepts (anything past it is a 422, not a database error)
MAX_OFFSET = 1_000_000


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterIn(Strict):
    email: EmailStr
    password: str = Field(min_length=1, max_length=256)
    display_name: str | None = Field(default=None, max_length=120)
    role: Literal["fan", "artist"] = "fan"
    artist_name: str | None = Field(default=None, max_length=200, description="for role=artist; defaults to display_name")


class LoginIn(Strict):
    email: EmailStr
    password: str = Field(min_length=1, max_length=256)


class RefreshIn(Strict):
    refresh_token: str = Field(min_length=1, max_length=200)


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int


class ArtistBrief(BaseModel):
    id: uuid.UUID
    name: str
    slug: str


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    display_name: str
    role: str
    artist: ArtistBrief | None
    created_at: datetime


class RegisterOut(BaseModel):
    user: UserOut
    tokens: TokenOut


def user_dict(user: User) -> dict[str, Any]:
    a = user.artist
    return {"id": str(user.id), "email": user.email, "display_name": user.display_name, "role": user.role,
            "artist": {"id": str(a.id), "name": a.name, "slug": a.slug} if a else None,
            "created_at": user.created_at.isoformat()}


def me_document(user: User) -> bytes:
    return orjson.dumps(user_dict(user))


class MePatch(Strict):
    display_name: str | None = Field(default=None, min_length=1, max_length=120)
    current_password: str | None = None
    new_password: str | None = Field(default=None, max_length=256)


class ApiTokenIn(Strict):
    name: str = Field(min_length=1, max_length=120)
    scopes: list[str] = Field(min_length=1)
    expires_in_days: int | None = Field(default=90, ge=1, le=3650)


class ApiTokenOut(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiTokenCreated(ApiTokenOut):
    token: str = Field(description="shown once; store it now")


class ArtistOut(BaseModel):
    id: uuid.UUID
    name: str
    slug: str
    bio: str
    timezone: str
    created_at: datetime


def artist_dict(a: Artist) -> dict[str, Any]:
    return {"id": a.id, "name": a.name, "slug": a.slug, "bio": a.bio, "timezone": a.timezone,
            "created_at": a.created_at}


class ArtistPatch(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    bio: str | None = Field(default=None, max_length=10000)
    timezone: str | None = Field(default=None, max_length=64, description="IANA zone, e.g. Europe/Berlin")


Perks = dict[str, bool | int | float | str]
#: what a tier may carry, as the OpenAPI document states it (names and values as validate_tier_fields checks)
PerkName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
PerkValue = (bool | Annotated[int, Field(ge=-2**53, le=2**53)] | Annotated[float, Field(allow_inf_nan=False)]
             | Annotated[str, Field(max_length=200)])
PerksIn = Annotated[dict[PerkName, PerkValue], Field(json_schema_extra={"additionalProperties": False})]
_PERKS_DOC = "perk name -> value; GET /api/v1/perks lists the names"
#: tier keys and ISO 4217 currency codes, as validate_tier_fields checks them
TIER_KEY = r"^[a-z0-9][a-z0-9_-]{0,63}$"
CURRENCY = r"^[A-Za-z]{3}$"  # upper-cased by the routes


class TierOut(BaseModel):
    id: uuid.UUID
    artist_id: uuid.UUID
    key: str
    name: str
    description: str
    rank: int
    price_amount: int = Field(description="per month, in minor units of currency (500 = 5.00 USD)")
    yearly_amount: int | None
    currency: str
    perks: Perks
    is_active: bool


def tier_dict(t: Tier) -> dict[str, Any]:
    return {"id": t.id, "artist_id": t.artist_id, "key": t.key, "name": t.name, "description": t.description,
            "rank": t.rank, "price_amount": t.price_amount, "yearly_amount": t.yearly_amount,
            "currency": t.currency, "perks": t.perks, "is_active": t.is_active}


class TierIn(Strict):
    key: str = Field(min_length=1, max_length=64, pattern=TIER_KEY)
    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=5000)
    rank: int = Field(ge=0, le=1000)
    price_amount: int = Field(ge=0, le=100_000_000)
    yearly_amount: int | None = Field(default=None, ge=1, le=1_000_000_000)
    currency: str = Field(default="USD", min_length=3, max_length=3, pattern=CURRENCY)
    perks: PerksIn = Field(default_factory=dict, description=_PERKS_DOC)


class TierPatch(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=5000)
    rank: int | None = Field(default=None, ge=0, le=1000)
    price_amount: int | None = Field(default=None, ge=0, le=100_000_000)
    yearly_amount: int | None = Field(default=None, ge=1, le=1_000_000_000)
    currency: str | None = Field(default=None, min_length=3, max_length=3, pattern=CURRENCY)
    perks: PerksIn | None = Field(default=None, description=_PERKS_DOC)


class EntitlementOut(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    artist_id: uuid.UUID
    tier: TierOut
    source: str
    status: str
    starts_at: datetime
    expires_at: datetime | None
    effective: bool


def entitlement_dict(e: Entitlement, t: Tier, now: datetime) -> dict[str, Any]:
    effective = e.status in ("active", "past_due", "cancelled") and e.starts_at <= now and (
        e.expires_at is None or now < e.expires_at)
    return {"id": e.id, "user_id": e.user_id, "artist_id": e.artist_id, "tier": tier_dict(t), "source": e.source,
            "status": e.status, "starts_at": e.starts_at, "expires_at": e.expires_at, "effective": effective}


class CompIn(Strict):
    email: EmailStr
    tier_id: uuid.UUID
    expires_at: datetime | None = Field(default=None, description="open-ended when absent")


class ContentIn(Strict):
    kind: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=300, pattern=r"\S", description="not blank")
    description: str = Field(default="", max_length=20000)
    visibility: Literal["public", "tier"] = "public"
    required_tier_id: uuid.UUID | None = None
    publish_at: datetime | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    status: Literal["draft", "ready"] = "ready"


class ContentPatch(Strict):
    # title, description, visibility and publish_at may be left out but not cleared (null is a 422)
    title: str = Field(default=None, min_length=1, max_length=300, pattern=r"\S", description="not blank")
    description: str = Field(default=None, max_length=20000)
    visibility: Literal["public", "tier"] = None
    required_tier_id: uuid.UUID | None = None
    publish_at: datetime = None
    data: dict[str, Any] | None = None


class TakeDownIn(Strict):
    reason: str = Field(min_length=1, max_length=2000)


class ContentOut(BaseModel):
    id: str
    artist_id: str
    kind: str
    title: str
    description: str | None = None
    status: str | None = None
    visibility: str
    required_tier_id: str | None
    publish_at: str
    created_at: str | None = None
    updated_at: str | None = None
    data: dict[str, Any] | None = None
    extra: dict[str, Any] | None = None
    locked: bool = False


class MetricOut(BaseModel):
    id: str
    title: str
    description: str
    unit: str
    plugin: str
    value: Any = None
    error: str | None = None


class MetricsOut(BaseModel):
    artist_id: uuid.UUID
    start: datetime
    end: datetime
    metrics: list[MetricOut]


class JobOut(BaseModel):
    id: uuid.UUID
    actor: str
    state: str
    progress: float
    message: str | None
    attempts: int
    subject_type: str | None
    subject_id: str | None
    result: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


class PluginOut(BaseModel):
    name: str
    version: str | None
    distribution: str | None
    status: str
    enabled: bool
    builtin: bool
    hooks: list[str]
    error: str | None
    quarantined: str | None = Field(None, description="set when a hook of this plugin raised and it was "
                                    "quarantined in this process (its votes are ignored); lifted by a re-enable or restart")
