"""Domain events: every change that matters is recorded as an event in the same transaction
(the core's own analytics sink is the ``domain_events`` table), then handed to every plugin's
``on_event`` hook after the commit."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from .db import on_commit
from .models import DomainEvent

if TYPE_CHECKING:
    from .platform import Platform


@dataclass(frozen=True, slots=True)
class Event:
    id: uuid.UUID
    type: str
    occurred_at: datetime
    actor_id: uuid.UUID | None = None
    artist_id: uuid.UUID | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def emit(platform: "Platform", session: Session, type: str, *, actor_id: uuid.UUID | None = None,
         artist_id: uuid.UUID | None = None, subject: tuple[str, Any] | None = None,
         data: dict[str, Any] | None = None, at: datetime | None = None) -> Event:
    """Record a domain event in ``session``'s transaction; sinks see it once that commits."""
    ev = Event(id=uuid.uuid4(), type=type, occurred_at=at or platform.clock.now(), actor_id=actor_id,
               artist_id=artist_id, subject_type=subject[0] if subject else None,
               subject_id=str(subject[1]) if subject else None, data=dict(data or {}))
    session.add(DomainEvent(id=ev.id, type=ev.type, occurred_at=ev.occurred_at, actor_id=ev.actor_id,
                            artist_id=ev.artist_id, subject_type=ev.subject_type,
                            subject_id=ev.subject_id, data=ev.data))
    on_commit(session, lambda: platform.plugins.notify("on_event", platform=platform, event=ev))
    return ev
