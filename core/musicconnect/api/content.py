"""Content items through the core: read with the access decision, and the artist's lifecycle
actions (edit, take down, delete). Plugins with uploads create their items through their own
routes and the same core service."""
from __future__ import annotations

import uuid

from typing import Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from ..content import resource_of
from ..contracts import Actor
from ..errors import NotFound, Problem
from ..models import ContentItem
from ..platform import Platform
from .artists import get_artist
from .deps import ensure_artist_owner, get_platform, public, require_scope, scope
from .schemas import MAX_OFFSET
from .schemas import ContentIn, ContentOut, ContentPatch, TakeDownIn

router = APIRouter(tags=["content"])


def teaser(item: ContentItem) -> dict:
    """What a fan without access sees of a published, gated item: that it exists and what unlocks it."""
    return {"id": str(item.id), "artist_id": str(item.artist_id), "kind": item.kind, "title": item.title,
            "visibility": item.visibility,
            "required_tier_id": str(item.required_tier_id) if item.required_tier_id else None,
            "publish_at": item.publish_at.isoformat(), "locked": True}


@router.get("/content-kinds", dependencies=[Depends(public)])
def content_kinds(platform: Platform = Depends(get_platform)):
    """The kinds of content the enabled plugins offer."""
    return [{"name": k.name, "title": k.title, "description": k.description, "plugin": p, "creatable": k.creatable}
            for name, (p, k) in sorted(platform.content.kinds().items())]


class PerkOut(BaseModel):
    type: Literal["boolean", "integer", "number", "string", "any"]
    description: str
    minimum: float | None = None
    maximum: float | None = Field(default=None, description="for strings: the longest value")
    choices: list[str] | None = None
    plugin: str = Field(description="the plugin that declares and honours it")


@router.get("/perks", dependencies=[Depends(public)], response_model=dict[str, PerkOut],
            response_model_exclude_none=True)
def perks(platform: Platform = Depends(get_platform)):
    """The tier perks the enabled plugins honour, with their value type and limits (a tier may
    only carry these; other values are refused with 422 ``invalid-perks``)."""
    return {name: {**spec.as_dict(), "plugin": plugin} for name, (plugin, spec) in sorted(platform.access.perks().items())}


@router.get("/payment-providers", dependencies=[Depends(public)])
def payment_providers(platform: Platform = Depends(get_platform)):
    """The payment providers the enabled plugins offer (checkout goes to exactly one by id)."""
    return [{"id": pid, "label": getattr(prov, "label", pid), "plugin": plugin}
            for pid, (plugin, prov) in sorted(platform.payments.providers().items())]


@router.post("/artists/{artist_id}/content", response_model=ContentOut, status_code=201)
def create_content(artist_id: uuid.UUID, body: ContentIn, actor: Actor = Depends(require_scope("content:write")),
                   platform: Platform = Depends(get_platform)):
    """Create a content item of a kind an enabled plugin offers (kinds with uploads have their own routes)."""
    ensure_artist_owner(actor, artist_id)
    kinds = platform.content.kinds()
    if body.kind in kinds and not kinds[body.kind][1].creatable:
        raise Problem(422, "not-creatable", f"{body.kind} items are created through the {kinds[body.kind][0]} plugin")
    if body.publish_at is not None and body.publish_at.tzinfo is None:
        raise Problem(422, "validation", "publish_at needs a time zone")
    fields = body.model_dump()
    if body.kind in kinds:
        fields["data"] = client_data(kinds[body.kind][1], body.data)
    with platform.session() as s:
        get_artist(s, str(artist_id))
        item = platform.content.create(s, artist_id=artist_id, actor_id=actor.user_id, **fields)
    return platform.content.serialize(item, actor)


@router.get("/artists/{artist_id}/content", response_model=list[ContentOut])
def list_content(artist_id: uuid.UUID, kind: str | None = None, limit: int = Query(50, ge=1, le=200),
                 offset: int = Query(0, ge=0, le=MAX_OFFSET), actor: Actor | None = Depends(scope("content:read", optional=True)),
                 platform: Platform = Depends(get_platform)):
    """The artist's content, newest first, as this viewer may see it: full items where access is
    granted, locked teasers for published gated items, nothing of drafts or future releases."""
    with platform.session() as s:
        get_artist(s, str(artist_id))
        stmt = select(ContentItem).where(ContentItem.artist_id == artist_id)
        if kind:
            stmt = stmt.where(ContentItem.kind == kind)
        owner = actor is not None and (actor.is_admin or actor.artist_id == artist_id)
        if not owner:
            stmt = stmt.where(ContentItem.status == "ready")
        items = s.scalars(stmt.order_by(ContentItem.publish_at.desc()).limit(limit).offset(offset)).all()
    context = platform.access.context(actor, artist_id)
    out = []
    for item in items:
        if platform.access.decide(actor, "view", resource_of(item), context).allowed:
            out.append(platform.content.serialize(item, actor))
        elif item.visibility == "tier" and item.publish_at <= context.now:
            out.append(teaser(item))
    return out


@router.get("/content/{content_id}", response_model=ContentOut,
            responses={401: {"description": "sign in"}, 403: {"description": "no access"}, 404: {"description": "none"}})
def read_content(content_id: uuid.UUID, actor: Actor | None = Depends(scope("content:read", optional=True)),
                 platform: Platform = Depends(get_platform)):
    with platform.session() as s:
        item = s.get(ContentItem, content_id)
        if item is None:
            raise NotFound("content")
        # drafts, take-downs and future releases are not revealed (404); a released item the
        # caller may not see is 401/403 with the deciding rule's reason
        platform.access.require(actor, "view", resource_of(item), not_found="content")
        return platform.content.serialize(item, actor)


def client_data(kind, data: dict | None) -> dict:
    """What a client sent as an item's ``data``, validated by the kind's declared model (unknown
    fields refused); a kind that declares none accepts no client data."""
    data = data or {}
    model = kind.data_model
    if model is None:
        if data:
            raise Problem(422, "content-data-not-accepted",
                          f"{kind.name} items take no client data (fields: {', '.join(sorted(data))})")
        return {}
    from pydantic import ValidationError

    try:
        value = model.model_validate(data)
    except ValidationError as exc:
        errors = [{"loc": ["data", *map(str, e.get("loc", ()))], "msg": e.get("msg"), "type": e.get("type")}
                  for e in exc.errors()]
        raise Problem(422, "validation", "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors),
                      errors=errors) from None
    return value.model_dump(mode="json", exclude_unset=True)


def _owned(s, platform: Platform, actor: Actor, content_id: uuid.UUID) -> ContentItem:
    item = s.get(ContentItem, content_id)
    if item is None:
        raise NotFound("content")
    if not (actor.is_admin or actor.artist_id == item.artist_id):
        if item.status != "ready" or item.publish_at > platform.clock.now():
            raise NotFound("content")  # someone else's draft or future release is not revealed
        ensure_artist_owner(actor, item.artist_id)
    return item


@router.patch("/content/{content_id}", response_model=ContentOut)
def patch_content(content_id: uuid.UUID, body: ContentPatch, actor: Actor = Depends(require_scope("content:write")),
                  platform: Platform = Depends(get_platform)):
    changes = body.model_dump(exclude_unset=True)
    if changes.get("publish_at") is not None and changes["publish_at"].tzinfo is None:
        raise Problem(422, "validation", "publish_at needs a time zone")
    for f in ("title", "visibility", "publish_at"):
        if f in changes and changes[f] is None:
            raise Problem(422, "validation", f"{f} cannot be null")
    with platform.session() as s:
        item = _owned(s, platform, actor, content_id)
        if "data" in changes:
            kind = platform.content.kinds().get(item.kind)
            if kind is None:
                raise Problem(409, "unknown-content-kind", f"no enabled plugin manages {item.kind!r} items")
            if kind[1].data_model is None:  # even {}: the item's data is the server's own
                raise Problem(422, "content-data-not-accepted", f"{item.kind} items take no client data")
            changes["data"] = client_data(kind[1], changes["data"])
        platform.content.update(s, item, changes, actor_id=actor.user_id)
        return platform.content.serialize(item, actor)


@router.post("/content/{content_id}/take-down", response_model=ContentOut)
def take_down(content_id: uuid.UUID, body: TakeDownIn, actor: Actor = Depends(require_scope("content:write")),
              platform: Platform = Depends(get_platform)):
    """Stop serving an item at once (everything derived from it too). Only an admin can restore it."""
    with platform.session() as s:
        item = _owned(s, platform, actor, content_id)
        platform.content.take_down(s, item, body.reason, actor_id=actor.user_id)
        return platform.content.serialize(item, actor)


@router.delete("/content/{content_id}", status_code=204)
def delete_content(content_id: uuid.UUID, actor: Actor = Depends(require_scope("content:write")),
                   platform: Platform = Depends(get_platform)):
    """Delete an item for good; its plugin removes its files."""
    with platform.session() as s:
        item = _owned(s, platform, actor, content_id)
        platform.content.delete(s, item, actor_id=actor.user_id)
    return Response(status_code=204)
