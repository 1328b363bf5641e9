"""Feature flags over HTTP: the admin API (``/api/v1/flags``) and the flags a client may read
(``GET /api/v1/me/flags``). See docs/flags.md."""
from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from ..contracts import Actor
from ..flags import FlagRule, serialize
from ..platform import Platform
from .deps import get_platform, scope
from .schemas import Strict, examples

router = APIRouter(tags=["flags"])
ENV = Query(None, pattern=r"^[a-z][a-z0-9-]{0,31}$",
            description="the environment whose flags to manage (default: this server's MC_ENV)")


class FlagOut(BaseModel):
    key: str
    environment: str
    kind: str
    description: str
    variants: dict[str, Any]
    default_variant: str
    rules: list[dict[str, Any]]
    enabled: bool
    client_visible: bool
    version: int = Field(description="bumped by every change; send it back as expect_version to refuse stale edits")
    updated_at: str | None
    updated_by: str | None


class FlagIn(Strict):
    model_config = examples(
        {"key": "new-player", "kind": "boolean", "description": "the redesigned player", "client_visible": True},
        {"key": "checkout-copy", "kind": "string", "variants": {"control": "Join", "bold": "Join the crew"},
         "default_variant": "control",
         "rules": [{"name": "test", "split": {"control": 50, "bold": 50}, "experiment": "checkout-copy-test"}]})

    key: str = Field(min_length=1, max_length=100, description="lower-case letters, digits, '_', '.', '-'")
    kind: Literal["boolean", "string", "number", "object"] = "boolean"
    description: str = Field("", max_length=2000)
    variants: dict[str, Any] | None = Field(None, description="name -> value; a boolean flag defaults to on/off")
    default_variant: str | None = Field(None, description="served when no rule matches (boolean: off)")
    rules: list[FlagRule] = Field(default_factory=list, description="evaluated in order; the first match wins")
    enabled: bool = Field(True, description="false: everyone gets the default variant (a kill switch)")
    client_visible: bool = Field(False, description="listed by GET /api/v1/me/flags")


class FlagPatch(Strict):
    model_config = examples({"enabled": False}, {"default_variant": "on", "expect_version": 3})

    description: str | None = Field(None, max_length=2000)
    variants: dict[str, Any] | None = None
    default_variant: str | None = None
    rules: list[FlagRule] | None = None
    enabled: bool | None = None
    client_visible: bool | None = None
    expect_version: int | None = Field(None, description="refuse (409) unless the flag is at this version")


class RulesIn(Strict):
    model_config = examples({"rules": [{"name": "artists first", "roles": ["artist"], "variant": "on"},
                                       {"name": "rollout", "percentage": 10, "variant": "on"}]})

    rules: list[FlagRule]
    expect_version: int | None = None


class RolloutIn(Strict):
    model_config = examples({"percentage": 25}, {"percentage": 50, "variant": "on"})

    percentage: float = Field(ge=0, le=100, description="share of users served the variant (stable per user)")
    variant: str | None = Field(None, description="the variant rolled out (boolean flags: on)")


class EvaluationOut(BaseModel):
    key: str
    value: Any
    variant: str | None
    reason: str
    rule: int | None
    experiment: str | None


class ClientFlag(BaseModel):
    value: Any
    variant: str | None


def _out(row) -> dict:
    return serialize(row)


@router.get("/flags", response_model=list[FlagOut])
def list_flags(environment: str | None = ENV, _: Actor = Depends(scope("admin")),
               platform: Platform = Depends(get_platform)):
    """Every flag of the environment (admins)."""
    with platform.read() as s:
        return [_out(r) for r in platform.flags.list(s, environment)]


@router.post("/flags", response_model=FlagOut, status_code=201)
def create_flag(body: FlagIn, environment: str | None = ENV, actor: Actor = Depends(scope("admin")),
                platform: Platform = Depends(get_platform)):
    """Create a flag (admins). 409 ``flag-exists`` when the key is taken in that environment."""
    with platform.session() as s:
        row = platform.flags.create(s, body.key, kind=body.kind, variants=body.variants,
                                    default_variant=body.default_variant, description=body.description,
                                    rules=body.rules, enabled=body.enabled, client_visible=body.client_visible,
                                    environment=environment, actor_id=actor.user_id)
        s.flush()
        return _out(row)


@router.get("/flags/{key}", response_model=FlagOut)
def read_flag(key: str, environment: str | None = ENV, _: Actor = Depends(scope("admin")),
              platform: Platform = Depends(get_platform)):
    """One flag (admins)."""
    with platform.read() as s:
        return _out(platform.flags.get(s, key, environment))


@router.patch("/flags/{key}", response_model=FlagOut)
def update_flag(key: str, body: FlagPatch, environment: str | None = ENV, actor: Actor = Depends(scope("admin")),
                platform: Platform = Depends(get_platform)):
    """Change a flag (admins); ``expect_version`` refuses a stale edit (409 ``flag-version-conflict``)."""
    changes = body.model_dump(exclude_unset=True, exclude={"expect_version"})
    if body.rules is not None:
        changes["rules"] = body.rules
    with platform.session() as s:
        row = platform.flags.update(s, key, environment=environment, actor_id=actor.user_id,
                                    expect_version=body.expect_version, **changes)
        s.flush()
        return _out(row)


@router.put("/flags/{key}/rules", response_model=FlagOut)
def replace_rules(key: str, body: RulesIn, environment: str | None = ENV, actor: Actor = Depends(scope("admin")),
                  platform: Platform = Depends(get_platform)):
    """Replace the targeting rules (admins)."""
    with platform.session() as s:
        row = platform.flags.update(s, key, environment=environment, actor_id=actor.user_id,
                                    expect_version=body.expect_version, rules=body.rules)
        s.flush()
        return _out(row)


@router.put("/flags/{key}/rollout", response_model=FlagOut)
def set_rollout(key: str, body: RolloutIn, environment: str | None = ENV, actor: Actor = Depends(scope("admin")),
                platform: Platform = Depends(get_platform)):
    """Set the percentage rollout (the rule named ``rollout``; admins). Users already in stay in
    when it grows."""
    with platform.session() as s:
        row = platform.flags.rollout(s, key, body.percentage, variant=body.variant, environment=environment,
                                     actor_id=actor.user_id)
        s.flush()
        return _out(row)


@router.delete("/flags/{key}", status_code=204)
def delete_flag(key: str, environment: str | None = ENV, actor: Actor = Depends(scope("admin")),
                platform: Platform = Depends(get_platform)):
    """Delete a flag (admins): code asking for it gets its own default again."""
    with platform.session() as s:
        platform.flags.delete(s, key, environment=environment, actor_id=actor.user_id)
    return Response(status_code=204)


@router.get("/flags/{key}/evaluate", response_model=EvaluationOut)
def evaluate_flag(key: str, user_id: uuid.UUID | None = Query(None, description="the user (none: anonymous)"),
                  _: Actor = Depends(scope("admin")), platform: Platform = Depends(get_platform)):
    """What a user is served by a flag of this server's environment, and why (admins)."""
    from ..errors import NotFound

    ev = platform.flags.evaluate(key, user_id, expose=False)  # a look, not an exposure
    if ev.reason == "unknown":
        raise NotFound(f"flag {key!r}")
    return {"key": ev.key, "value": ev.value, "variant": ev.variant, "reason": ev.reason, "rule": ev.rule,
            "experiment": ev.experiment}


@router.get("/me/flags", response_model=dict[str, ClientFlag], tags=["me"])
def my_flags(actor: Actor | None = Depends(scope("profile:read", optional=True)),
             platform: Platform = Depends(get_platform)):
    """The client-visible flags, evaluated for you (anonymous callers: as an anonymous user).
    Flags not marked client-visible are never listed."""
    return platform.flags.client_flags(actor)
