"""Content items and their lifecycle. Plugins that own a content kind create and change items
through these functions, which emit the domain events and fire the content hooks after commit."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from .contracts import Actor, ContentKind, Resource
from .db import on_commit
from .errors import Invalid, NotFound, Problem
from .events import emit
from .models import ContentItem, Tier

if TYPE_CHECKING:
    from .platform import Platform

EDITABLE = ("title", "description", "visibility", "required_tier_id", "publish_at", "data")


def resource_of(item: ContentItem) -> Resource:
    return Resource(kind=item.kind, id=item.id, artist_id=item.artist_id, visibility=item.visibility,
                    status=item.status, required_tier_id=item.required_tier_id, publish_at=item.publish_at,
                    data=item.data or {})


class ContentService:
    def __init__(self, platform: "Platform"):
        self.platform = platform

    def kinds(self) -> dict[str, tuple[str, ContentKind]]:
        out: dict[str, tuple[str, ContentKind]] = {}
        for plugin, kind in self.platform.plugins.collect("register_content_kinds", platform=self.platform):
            if isinstance(kind, ContentKind) and kind.name not in out:
                out[kind.name] = (plugin, kind)
        return out

    def get(self, session: Session, item_id: uuid.UUID) -> ContentItem:
        item = session.get(ContentItem, item_id)
        if item is None:
            raise NotFound("content")
        return item

    def _check_visibility(self, session: Session, artist_id: uuid.UUID, visibility: str,
                          required_tier_id: uuid.UUID | None) -> None:
        if visibility not in ("public", "tier"):
            raise Invalid("visibility must be 'public' or 'tier'")
        if visibility == "tier":
            if required_tier_id is None:
                raise Invalid("tier visibility needs required_tier_id")
            tier = session.get(Tier, required_tier_id)
            if tier is None or tier.artist_id != artist_id:
                raise Invalid("required_tier_id is not a tier of this artist")

    def create(self, session: Session, *, artist_id: uuid.UUID, kind: str, title: str, description: str = "",
               visibility: str = "public", required_tier_id: uuid.UUID | None = None,
               publish_at: datetime | None = None, data: dict[str, Any] | None = None,
               status: str = "draft", actor_id: uuid.UUID | None = None, item_id: uuid.UUID | None = None) -> ContentItem:
        kinds = self.kinds()
        if kind not in kinds:
            raise Problem(422, "unknown-content-kind", f"no enabled plugin offers content of kind {kind!r}",
                          kinds=sorted(kinds))
        if status not in ("draft", "processing", "ready"):
            raise Invalid("new content starts as draft, processing or ready")
        if visibility == "public":
            required_tier_id = None
        self._check_visibility(session, artist_id, visibility, required_tier_id)
        validator = kinds[kind][1].validate
        data = validator(dict(data or {})) if validator else dict(data or {})
        now = self.platform.clock.now()
        item = ContentItem(id=item_id or uuid.uuid4(), artist_id=artist_id, kind=kind, title=title.strip()[:300],
                           description=description, status=status, visibility=visibility,
                           required_tier_id=required_tier_id, publish_at=publish_at or now, data=data,
                           created_at=now, updated_at=now)
        if not item.title:
            raise Invalid("title must not be empty")
        session.add(item)
        session.flush()
        emit(self.platform, session, "content.created", actor_id=actor_id, artist_id=artist_id,
             subject=("content", item.id), data={"kind": kind, "visibility": visibility, "status": status})
        self._after(session, "on_content_created", item=item)
        if status == "ready":
            self._published(session, item, actor_id)
        return item

    def update(self, session: Session, item: ContentItem, changes: dict[str, Any],
               actor_id: uuid.UUID | None = None) -> dict[str, tuple[Any, Any]]:
        unknown = set(changes) - set(EDITABLE)
        if unknown:
            raise Invalid(f"cannot change {', '.join(sorted(unknown))}")
        if item.status == "taken_down":
            raise Problem(409, "content-taken-down", "taken-down content cannot be edited")
        visibility = changes.get("visibility", item.visibility)
        tier_id = changes.get("required_tier_id", item.required_tier_id)
        if visibility == "public":
            tier_id = None
            if item.required_tier_id is not None or "required_tier_id" in changes:
                changes["required_tier_id"] = None  # public content names no tier (a stray id was an FK error)
        self._check_visibility(session, item.artist_id, visibility, tier_id)
        if "data" in changes:
            kind = self.kinds().get(item.kind)
            if kind and kind[1].validate:
                changes["data"] = kind[1].validate(dict(changes["data"] or {}))
        if "title" in changes:
            changes["title"] = str(changes["title"]).strip()[:300]
            if not changes["title"]:
                raise Invalid("title must not be empty")
        diff = {}
        for field, new in changes.items():
            old = getattr(item, field)
            if old != new:
                diff[field] = (old, new)
                setattr(item, field, new)
        if diff:
            item.updated_at = self.platform.clock.now()
            session.flush()
            emit(self.platform, session, "content.updated", actor_id=actor_id, artist_id=item.artist_id,
                 subject=("content", item.id), data={"fields": sorted(diff)})
            self._after(session, "on_content_updated", item=item, changes=diff)
            self.platform.forget_content(session, item.id)
        return diff

    def set_status(self, session: Session, item: ContentItem, status: str, reason: str | None = None,
                   actor_id: uuid.UUID | None = None) -> None:
        """Move an item through ``processing -> ready | failed`` (plugins that process uploads)."""
        if status not in ("draft", "processing", "ready", "failed"):
            raise Invalid(f"use take_down() for {status!r}" if status == "taken_down" else f"bad status {status!r}")
        if item.status == "taken_down":
            raise Problem(409, "content-taken-down", "taken-down content cannot change status")
        old = item.status
        item.status, item.status_reason = status, reason
        item.updated_at = self.platform.clock.now()
        session.flush()
        self.platform.forget_content(session, item.id)
        if status == "ready" and old != "ready":
            self._published(session, item, actor_id)
        elif status == "failed":
            emit(self.platform, session, "content.failed", actor_id=actor_id, artist_id=item.artist_id,
                 subject=("content", item.id), data={"reason": reason})

    def take_down(self, session: Session, item: ContentItem, reason: str, actor_id: uuid.UUID | None = None) -> None:
        if item.status == "taken_down":
            return
        item.status, item.status_reason = "taken_down", reason
        item.updated_at = self.platform.clock.now()
        session.flush()
        emit(self.platform, session, "content.taken_down", actor_id=actor_id, artist_id=item.artist_id,
             subject=("content", item.id), data={"reason": reason})
        self.platform.forget_content(session, item.id)
        self._after(session, "on_content_taken_down", item=item, reason=reason)

    def restore(self, session: Session, item: ContentItem, actor_id: uuid.UUID | None = None,
                reason: str | None = None) -> None:
        """Bring a taken-down item back to ``ready`` (a copyright counter-notice that stood, a
        take-down reversed on review). With ``reason`` only an item taken down for that reason is
        restored (another take-down stands: 409). Emits ``content.restored``."""
        if item.status != "taken_down":
            raise Problem(409, "content-not-taken-down", "only taken-down content can be restored")
        if reason is not None and item.status_reason != reason:
            raise Problem(409, "content-taken-down", f"the content was taken down for another reason ({item.status_reason})")
        item.status, item.status_reason = "ready", None
        item.updated_at = self.platform.clock.now()
        session.flush()
        emit(self.platform, session, "content.restored", actor_id=actor_id, artist_id=item.artist_id,
             subject=("content", item.id), data={"reason": reason})
        self.platform.forget_content(session, item.id)

    def delete(self, session: Session, item: ContentItem, actor_id: uuid.UUID | None = None) -> None:
        emit(self.platform, session, "content.deleted", actor_id=actor_id, artist_id=item.artist_id,
             subject=("content", item.id), data={"kind": item.kind})
        session.delete(item)
        session.flush()
        self.platform.forget_content(session, item.id)
        self._after(session, "on_content_deleted", item=item)

    def _published(self, session: Session, item: ContentItem, actor_id) -> None:
        emit(self.platform, session, "content.published", actor_id=actor_id, artist_id=item.artist_id,
             subject=("content", item.id), data={"kind": item.kind, "publish_at": item.publish_at.isoformat()})
        self._after(session, "on_content_published", item=item)

    def _after(self, session: Session, hook: str, **kwargs: Any) -> None:
        platform = self.platform
        on_commit(session, lambda: platform.plugins.notify(hook, platform=platform, **kwargs))

    def serialize(self, item: ContentItem, viewer: Actor | None) -> dict[str, Any]:
        extra: dict[str, Any] = self.platform.plugins.merge("serialize_content", platform=self.platform, item=item,
                                                            viewer=viewer)
        return {
            "id": str(item.id), "artist_id": str(item.artist_id), "kind": item.kind, "title": item.title,
            "description": item.description, "status": item.status, "visibility": item.visibility,
            "required_tier_id": str(item.required_tier_id) if item.required_tier_id else None,
            "publish_at": item.publish_at.isoformat(), "created_at": item.created_at.isoformat(),
            "updated_at": item.updated_at.isoformat(), "data": item.data or {}, "extra": extra,
        }
