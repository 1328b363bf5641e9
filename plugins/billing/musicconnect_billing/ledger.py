"""The webhook ledger: store every provider event once (keyed by its id) together with the job
that processes it (``processing.py``), and read it back."""
from __future__ import annotations

import threading
import uuid
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from .models import WebhookEvent

JOB = "billing.process_event"
_sqlite_writes = threading.Lock()  # SQLite: acks queue here, not in SQLite's sleeping busy handler


def store(platform, session, provider: str, event: dict[str, Any]) -> uuid.UUID:
    """Add ``event`` to the ledger in ``session``'s transaction; its job is sent after commit."""
    row_id = uuid.uuid4()
    session.execute(insert(WebhookEvent).values(
        id=row_id, provider=provider, event_id=str(event["id"]), type=str(event.get("type", ""))[:80], payload=event,
        created=int(event.get("created") or 0), status="received", attempts=0, received_at=platform.clock.now()))
    platform.jobs.enqueue(JOB, session=session, subject=("billing-event", row_id), event_id=str(row_id))
    return row_id


def receive(platform, provider: str, event: dict[str, Any]) -> tuple[uuid.UUID | None, bool]:
    """Store a delivered event once and queue its processing. Returns ``(ledger id, duplicate)``."""
    sqlite = platform.db.dialect == "sqlite"
    try:
        if sqlite:
            _sqlite_writes.acquire()
        with platform.session() as s:
            return store(platform, s, provider, event), False
    except IntegrityError:
        return None, True
    finally:
        if sqlite:
            _sqlite_writes.release()


def find(platform, ref: str) -> WebhookEvent | None:
    with platform.session() as s:
        try:
            row = s.get(WebhookEvent, uuid.UUID(ref))
        except ValueError:
            row = None
        if row is None:
            row = s.scalar(select(WebhookEvent).where(WebhookEvent.event_id == ref).order_by(WebhookEvent.received_at))
        if row is not None:
            s.expunge(row)
        return row


def view(row: WebhookEvent) -> dict[str, Any]:
    return {"id": str(row.id), "provider": row.provider, "event_id": row.event_id, "type": row.type,
            "status": row.status, "attempts": row.attempts, "note": row.note, "error": row.error,
            "received_at": row.received_at.isoformat(),
            "processed_at": row.processed_at.isoformat() if row.processed_at else None}
