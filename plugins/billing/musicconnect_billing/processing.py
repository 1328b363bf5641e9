"""Processing the webhook ledger: the job that applies one stored event (``handlers.py``), and
the scheduled retry of failed or lost ones with backoff."""
from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select

from .handlers import handle
from .ledger import JOB
from .models import WebhookEvent

log = logging.getLogger("musicconnect.billing.ledger")


def process(ctx, event_id: str, force: bool = False) -> dict[str, Any]:
    """Apply one ledger event (the job). State changes and the ledger status commit together."""
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
