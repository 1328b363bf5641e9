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


def examples(*values: dict[str, Any]) -> ConfigDict:
    """A request model's config with request ``examples`` for the OpenAPI document (every request
    body has at least one; ``tests/test_openapi_examples.py`` validates them against the model)."""
    return ConfigDict(extra="forbid", json_schema_extra={"examples": list(values)})


#: example ids in the examples below (any id of yours goes there)
_TIER = "0b9f6c2e-4d1a-4e7b-9a53-2f8c1d7e6a40"


class RegisterIn(Strict):
    model_config = examples(
        {"email": "ada@example.com", "password": "correct horse battery staple", "display_name": "Ada"},
        {"email": "lumen@example.com", "password": "four colours of dawn", "display_name": "Lumen",
         "role": "artist", "artist_name": "Lumen Drift"})

    email: EmailStr
    password: str = Field(min_length=1, max_length=256)
    display_name: str | None = Field(default=None, max_length=120)
    role: Literal["fan", "artist"] = "fan"
    artist_name: str | None = Field(default=None, max_length=200, description="for role=artist; defaults to display_name")


class LoginIn(Strict):
    model_config = examples({"email": "fan@demo.com", "password": "password123"})

    email: EmailStr
    password: str = Field(min_length=1, max_length=256)


class RefreshIn(Strict):
    model_config = examples({"refresh_token": "mcr_8yJd2kQ0uXq3Vv7cN1aZbT5rLw9sEoP4"})

    refresh_token: str = Field(min_length=1, max_length=200, description="the `refresh_token` of the last login or "
                               "refresh (it rotates: each refresh returns a new one)")


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
    model_config = examples({"display_name": "Ada L."},
                            {"current_password": "password123", "new_password": "a longer passphrase, 2026"})

    display_name: str | None = Field(default=None, min_length=1, max_length=120)
    current_password: str | None = Field(default=None, description="needed with new_password")
    new_password: str | None = Field(default=None, max_length=256)


#: the static part of the ``scopes`` description; :func:`document_scopes` adds the names on offer
_SCOPES_DOC = ("scope names (`area:verb`) this token may use, as `GET /api/v1/scopes` lists them (the core's and "
               "every enabled plugin's); an unknown name is a 422 `unknown-scope` that lists the known ones")


class ApiTokenIn(Strict):
    model_config = examples({"name": "my player app", "scopes": ["profile:read", "content:read"], "expires_in_days": 30})

    name: str = Field(min_length=1, max_length=120)
    scopes: list[str] = Field(min_length=1, description=_SCOPES_DOC)
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
    model_config = examples({"bio": "Ambient electronica from Leipzig.", "timezone": "Europe/Berlin"})

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
    model_config = examples({"key": "supporter-plus", "name": "Supporter+", "description": "Everything, a week early.",
                             "rank": 3, "price_amount": 900, "yearly_amount": 9000, "currency": "EUR",
                             "perks": {"early_access": 168, "direct_messages": 5, "virtual_backstage": True}})

    key: str = Field(min_length=1, max_length=64, pattern=TIER_KEY)
    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=5000)
    rank: int = Field(ge=0, le=1000)
    price_amount: int = Field(ge=0, le=100_000_000)
    yearly_amount: int | None = Field(default=None, ge=1, le=1_000_000_000)
    currency: str = Field(default="USD", min_length=3, max_length=3, pattern=CURRENCY)
    perks: PerksIn = Field(default_factory=dict, description=_PERKS_DOC)


class TierPatch(Strict):
    model_config = examples({"price_amount": 700, "perks": {"direct_messages": 10}})

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
    model_config = examples({"email": "fan@demo.com", "tier_id": _TIER, "expires_at": "2031-12-31T23:59:59Z"})

    email: EmailStr = Field(description="the fan's account email (not a user id); 404 when no account has it")
    tier_id: uuid.UUID = Field(description="one of this artist's tiers (GET /api/v1/artists/{id}/tiers)")
    expires_at: datetime | None = Field(default=None, description="open-ended when absent")


#: the static part of the ``data`` description; :func:`document_content_kinds` adds each kind's fields
_DATA_DOC = ("the kind's own fields, checked by the plugin that offers the kind (GET /api/v1/content-kinds): "
             "a fan-club post's text goes here, `{\"kind\": \"post\", \"data\": {\"body\": \"...\"}}`, "
             "not at the top level")


class ContentIn(Strict):
    model_config = examples(
        {"kind": "post", "title": "Studio diary, week 3", "data": {"body": "Mixing the new single today."}},
        {"kind": "post", "title": "For supporters", "visibility": "tier", "required_tier_id": _TIER,
         "publish_at": "2031-06-01T18:00:00Z", "data": {"body": "The demo, before anyone else."}})

    kind: str = Field(min_length=1, max_length=64, description="a creatable kind of GET /api/v1/content-kinds "
                      "(tracks are uploaded through streaming's own route)")
    title: str = Field(min_length=1, max_length=300, pattern=r"\S", description="not blank")
    description: str = Field(default="", max_length=20000)
    visibility: Literal["public", "tier"] = "public"
    required_tier_id: uuid.UUID | None = None
    publish_at: datetime | None = Field(default=None, description="with its time zone; now when absent")
    data: dict[str, Any] = Field(default_factory=dict, description=_DATA_DOC)
    status: Literal["draft", "ready"] = "ready"


class ContentPatch(Strict):
    model_config = examples({"title": "Studio diary, week 3 (updated)", "data": {"body": "Mixed and mastered."}})

    # title, description, visibility and publish_at may be left out but not cleared (null is a 422)
    title: str = Field(default=None, min_length=1, max_length=300, pattern=r"\S", description="not blank")
    description: str = Field(default=None, max_length=20000)
    visibility: Literal["public", "tier"] = None
    required_tier_id: uuid.UUID | None = None
    publish_at: datetime = None
    data: dict[str, Any] | None = Field(default=None, description=_DATA_DOC)


class TakeDownIn(Strict):
    model_config = examples({"reason": "copyright claim received on 2026-05-02"})

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


# ---------------------------------------------------------------- what the OpenAPI document says at run time

def document_scopes(platform, schema: dict) -> dict:
    """Write the scopes a personal API token may carry into the OpenAPI document (in place): the
    ``scopes`` items of ``ApiTokenIn`` become an enum of the registered names (the core's and each
    enabled plugin's, ``register_scopes``) and the description lists what each allows, so the
    document follows what ``GET /api/v1/scopes`` answers."""
    known = platform.scopes()
    prop = schema.get("components", {}).get("schemas", {}).get("ApiTokenIn", {}).get("properties", {}).get("scopes")
    if prop is not None and known:
        prop["items"] = {"type": "string", "enum": sorted(known)}
        prop["description"] = _SCOPES_DOC + ": " + "; ".join(f"`{n}`: {what}" for n, what in sorted(known.items()))
    return schema


def document_content_kinds(platform, schema: dict) -> dict:
    """Write the content kinds on offer into the description of the content routes' ``data``
    (in place): for each creatable kind, the fields its plugin's data model takes."""
    kinds = []
    for name, (plugin, kind) in sorted(platform.content.kinds().items()):
        if not kind.creatable:
            continue
        model = getattr(kind, "data_model", None)
        fields = ", ".join(f"`{f}`" for f in getattr(model, "model_fields", {})) if model is not None else ""
        kinds.append(f"`{name}` ({plugin}): " + (f"data takes {fields}" if fields else "no data"))
    if not kinds:
        return schema
    for model_name in ("ContentIn", "ContentPatch"):
        prop = schema.get("components", {}).get("schemas", {}).get(model_name, {}).get("properties", {}).get("data")
        if prop is not None:
            prop["description"] = _DATA_DOC + ". Kinds on offer: " + "; ".join(kinds)
    return schema
