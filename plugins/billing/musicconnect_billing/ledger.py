"""The webhook ledger: store every provider event once (keyed by its id), acknowledge, then
process it in a job; a failed processing is retried from the ledger with backoff."""
from __future__ import annotations

import logging
import threading
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, or_, select
from sqlalchemy.exc import IntegrityError

from .models import WebhookEvent

log = logging.getLogger("musicconnect.billing.ledger")
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


def process(ctx, event_id: str, force: bool = False) -> dict[str, Any]:
    """Apply one ledger event (the job). State changes and the ledger status commit together."""
    from .handlers import handle

    platform = ctx.platform
    eid = uuid.UUID(event_id)
    with platform.session() as s:
        row = s.get(WebhookEvent, eid)
        if row is None:
            return {"status": "missing"}
        if row.status in ("processed", "ignored") and not force:
            return {"status": row.status, "note": row.note}
        provider, type_, payload = row.provider, row.type, row.payload
    try:
        with platform.session() as s:
            status, note = handle(platform, s, provider, type_, payload)
            row = s.get(WebhookEvent, eid)
            row.status, row.note, row.error = status, note, None
            row.attempts += 1
            row.processed_at, row.next_attempt_at = platform.clock.now(), None
        if status == "ignored":
            log.info("billing: %s event %s (%s) stored and ignored: %s", provider, payload.get("id"), type_, note)
        return {"status": status, "note": note}
    except Exception as exc:
        settings = platform.plugin_settings("billing")
        with platform.session() as s:
            row = s.get(WebhookEvent, eid)
            row.attempts += 1
            row.status = "failed"
            row.error = f"{type(exc).__name__}: {exc}"[:2000]
            delay = min(3600, 15 * 2 ** min(row.attempts - 1, 10))
            row.next_attempt_at = (platform.clock.now() + timedelta(seconds=delay)
                                   if row.attempts < settings.webhook_max_attempts else None)
            attempts = row.attempts
        log.warning("billing: processing %s event %s failed (attempt %s): %s", provider, payload.get("id"),
                    attempts, exc)
        return {"status": "failed", "error": str(exc)}


def retry_due(ctx) -> dict[str, int]:
    """Scheduled: re-queue failed events whose backoff has passed, and received events whose job
    message was lost (older than five minutes)."""
    platform = ctx.platform
    now = platform.clock.now()
    with platform.session() as s:
        rows = s.scalars(select(WebhookEvent).where(or_(
            (WebhookEvent.status == "failed") & (WebhookEvent.next_attempt_at <= now),
            (WebhookEvent.status == "received") & (WebhookEvent.received_at <= now - timedelta(minutes=5))))
            .order_by(WebhookEvent.created).limit(500)).all()
        for row in rows:
            row.status = "received"
            row.next_attempt_at = None
            platform.jobs.enqueue(JOB, session=s, subject=("billing-event", row.id), event_id=str(row.id))
    return {"requeued": len(rows)}


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
