"""Domain event -> notifications: the fan-out and the deliveries.

1. ``on_event`` finds the declared kinds whose ``event_type`` (and ``when``) match and enqueues
   one ``notify.fanout`` job per kind and event.
2. ``fanout`` resolves the recipients (an audience through ``platform.audience_members`` or the
   kind's callable), renders the template once and splits the recipients into batches of
   :data:`BATCH`, each a ``notify.batch`` job (one batch runs inline).
3. ``batch`` applies each fan's preferences and inserts the rows of ``notify_deliveries`` with
   ``INSERT ... ON CONFLICT DO NOTHING RETURNING``: the unique key (kind, object, recipient,
   channel) makes a retried job insert, and so send, nothing twice. Inbox rows are delivered by
   existing (plus a live message on the fan's socket); push and email rows are handed to
   ``notify.deliver`` jobs.
4. ``deliver`` claims its rows (``pending`` -> ``sending``, a conditional UPDATE, so two runners
   never send the same row) and hands them to the channel (all at once when it has
   ``deliver_many``): ok -> ``sent``; ``TemporaryFailure`` ->
   ``pending`` again with ``not_before`` backed off exponentially; ``PermanentFailure`` ->
   ``failed`` with the reason. The periodic ``notify.due`` job sends whatever is due (quiet hours
   over, back-off elapsed).
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any, Iterable

from prometheus_client import Counter
from sqlalchemy import and_, bindparam, or_, select, update

from musicconnect import Event, PermanentJobError
from musicconnect.models import Artist

from . import prefs as prefs_mod
from .channels import CHANNELS, Delivery, PermanentFailure, TemporaryFailure
from .models import Delivery as Row

log = logging.getLogger("musicconnect.notify")

BATCH = 1000
MAX_ATTEMPTS = 8
DELIVERIES = Counter("mc_notify_deliveries", "Notification deliveries by channel and outcome",
                     ["channel", "outcome"])


# ---------------------------------------------------------------- events

def event_args(event: Event) -> dict[str, Any]:
    return {"id": str(event.id), "type": event.type, "occurred_at": event.occurred_at.isoformat(),
            "actor_id": str(event.actor_id) if event.actor_id else None,
            "artist_id": str(event.artist_id) if event.artist_id else None,
            "subject_type": event.subject_type, "subject_id": event.subject_id, "data": dict(event.data or {})}


def event_of(args: dict[str, Any]) -> Event:
    return Event(id=uuid.UUID(args["id"]), type=args["type"], occurred_at=datetime.fromisoformat(args["occurred_at"]),
                 actor_id=uuid.UUID(args["actor_id"]) if args.get("actor_id") else None,
                 artist_id=uuid.UUID(args["artist_id"]) if args.get("artist_id") else None,
                 subject_type=args.get("subject_type"), subject_id=args.get("subject_id"), data=args.get("data") or {})


def matching_kinds(platform, event: Event) -> list:
    out = []
    for kind_id, (plugin, kind) in platform.notification_kinds().items():
        if kind.event_type != event.type:
            continue
        try:
            if kind.when is None or kind.when(event):
                out.append(kind)
        except Exception:
            log.exception("notification kind %s (%s): its when() failed on %s", kind_id, plugin, event.type)
    return out


def on_event(platform, event: Event) -> None:
    for kind in matching_kinds(platform, event):
        platform.jobs.enqueue("notify.fanout", subject=("event", event.id), kind=kind.id, event=event_args(event))


def object_key(event: Event) -> str:
    return f"{event.subject_type}:{event.subject_id}" if event.subject_type else f"event:{event.id}"


# ---------------------------------------------------------------- fan-out

def resolve(platform, kind, event: Event) -> list[uuid.UUID]:
    r = kind.recipients
    if callable(r):
        found: Iterable = r(platform, event) or ()
    elif r == "actor":
        found = [event.actor_id] if event.actor_id else []
    elif r == "subject":
        found = [event.subject_id] if event.subject_type == "user" and event.subject_id else []
    elif event.artist_id is None:
        found = []
    else:
        found = platform.audience_members(event.artist_id, r)
    ids = {x if isinstance(x, uuid.UUID) else uuid.UUID(str(x)) for x in found if x}
    if not isinstance(r, str) or r not in ("actor", "subject"):
        ids.discard(event.actor_id)  # nobody is notified of what they did themselves
    return sorted(ids)


def render(platform, kind, event: Event) -> dict[str, str | None]:
    """The kind's template over the event (raises on a template error: that kind fails loudly)."""
    artist_name = ""
    if event.artist_id:
        with platform.read() as s:
            artist = s.get(Artist, event.artist_id)
            artist_name = artist.name if artist is not None else ""
    values = {**(event.data or {}), "artist_id": str(event.artist_id or ""), "artist_name": artist_name,
              "subject_id": event.subject_id or "", "actor_id": str(event.actor_id or "")}
    tpl = kind.template
    return {"title": tpl["title"].format(**values)[:300], "body": tpl.get("body", "").format(**values),
            "url": tpl["url"].format(**values)[:500] if tpl.get("url") else None}


def fanout(ctx, kind: str, event: dict) -> dict:
    platform = ctx.platform
    declared = platform.notification_kinds().get(kind)
    if declared is None:
        return {"recipients": 0, "skipped": "kind no longer declared"}
    k = declared[1]
    ev = event_of(event)
    try:
        text = render(platform, k, ev)
    except Exception as exc:
        log.error("notification kind %s: template error: %s: %s", kind, type(exc).__name__, exc)
        raise PermanentJobError(f"template error in kind {kind}: {type(exc).__name__}: {exc}") from exc
    recipients = [str(u) for u in resolve(platform, k, ev)]
    common = {"kind": kind, "object_key": object_key(ev), "artist_id": event.get("artist_id"),
              "title": text["title"], "body": text["body"], "url": text["url"], "data": ev.data,
              "channels": list(k.default_channels), "digestible": k.digestible, "at": event["occurred_at"]}
    batches = [recipients[i:i + BATCH] for i in range(0, len(recipients), BATCH)]
    if len(batches) == 1:
        insert_batch(platform, recipients=batches[0], **common)
    else:
        for i, chunk in enumerate(batches):
            platform.jobs.enqueue("notify.batch", subject=("fanout", f"{ev.id}:{kind}:{i}"), recipients=chunk, **common)
    return {"recipients": len(recipients), "batches": len(batches)}


def batch(ctx, **kw) -> dict:
    return insert_batch(ctx.platform, **kw)


def _insert(session):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def insert_batch(platform, *, recipients: list[str], kind: str, object_key: str, artist_id: str | None, title: str,
                 body: str, url: str | None, data: dict, channels: list[str], digestible: bool,
                 at: str | None = None) -> dict:
    """Insert the deliveries of one batch (idempotent) and hand the new ones on. Rows are dated
    ``at`` (the event's time), so the inbox orders by when things happened."""
    now = platform.clock.now()
    created_at = datetime.fromisoformat(at) if at else now
    artist = uuid.UUID(artist_id) if artist_id else None
    user_ids = [uuid.UUID(r) for r in recipients]
    rows: list[dict[str, Any]] = []
    with platform.session() as s:
        fans = prefs_mod.load(s, user_ids)
        for uid in user_ids:
            p = fans.get(uid)
            if p is None or (artist is not None and str(artist) in p.muted):
                continue
            for channel in ("inbox", "push", "email"):
                if channel != "inbox" and channel not in CHANNELS:
                    continue
                if not p.wants(kind, channel, channels):
                    continue
                status, not_before = "pending", None
                if channel == "inbox":
                    status = "sent"
                elif channel == "email" and digestible and p.digest != "off":
                    status = "digest"
                else:
                    not_before = p.quiet_until(now)
                rows.append({"id": uuid.uuid4(), "kind": kind, "object_key": object_key, "recipient_id": uid,
                             "channel": channel, "artist_id": artist, "title": title, "body": body, "url": url,
                             "data": data, "status": status, "not_before": not_before, "attempts": 0,
                             "created_at": created_at, "sent_at": now if status == "sent" else None})
        created = []
        if rows:
            table = Row.__table__
            # executemany: the statement compiles once (cached) and SQLAlchemy batches the rows
            # into multi-row INSERTs ("insertmanyvalues"); RETURNING answers only the new rows
            stmt = _insert(s)(table).on_conflict_do_nothing().returning(
                table.c.id, table.c.recipient_id, table.c.channel, table.c.status, table.c.not_before)
            created = s.execute(stmt, rows).all()
    inbox = [r for r in created if r.channel == "inbox"]
    if inbox:
        DELIVERIES.labels("inbox", "sent").inc(len(inbox))
        live(platform, [(r.recipient_id, {"type": "notification", "id": str(r.id), "kind": kind, "title": title,
                                          "body": body, "url": url}) for r in inbox])
    due = {}
    for r in created:
        if r.status == "pending" and r.not_before is None:
            due.setdefault(r.channel, []).append(str(r.id))
    for channel, ids in due.items():
        platform.jobs.enqueue("notify.deliver", ids=ids)
    return {"created": len(created)}


def live(platform, messages: list[tuple[Any, dict]]) -> None:
    """The live copies of inbox rows on the fans' open sockets (when the core has them): all of
    a batch in one go (one Redis round trip in a distributed deployment)."""
    hub = getattr(platform, "realtime", None)
    if hub is None or not hasattr(hub, "publish_many_threadsafe"):
        return
    try:
        hub.publish_many_threadsafe([(f"user:{uid}", message) for uid, message in messages])
    except Exception:
        log.warning("live notifications to %d fans failed", len(messages), exc_info=True)


# ---------------------------------------------------------------- deliveries

def unsubscribe_url(platform, recipient_id, kind: str) -> str | None:
    """The one-click unsubscribe link of the channels' ``unsubscribe`` module, when it exists."""
    try:
        from . import unsubscribe
    except ImportError:
        return None
    make = getattr(unsubscribe, "unsubscribe_url", None)
    return make(platform, recipient_id, kind) if make else None


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 15 * 2 ** max(0, attempts - 1)))


def deliver(ctx, ids: list[str]) -> dict:
    return deliver_ids(ctx.platform, [uuid.UUID(i) for i in ids])


def deliver_ids(platform, ids: list[uuid.UUID]) -> dict:
    """Claim the due rows among ``ids`` (one conditional UPDATE per chunk), hand them to their
    channels (a channel with ``deliver_many`` gets them all at once) and write the outcomes back
    in one transaction."""
    outcome = {"sent": 0, "retry": 0, "failed": 0, "skipped": 0}
    claimed = _claim(platform, ids)
    outcome["skipped"] = len(ids) - len(claimed)
    by_channel: dict[str, list[tuple[Delivery, int]]] = {}
    for item in claimed:
        by_channel.setdefault(item[0].channel, []).append(item)
    writes: list[dict[str, Any]] = []
    for channel_id, items in by_channel.items():
        results = _send(platform, CHANNELS.get(channel_id), channel_id, [d for d, _ in items])
        for (d, attempts), result in zip(items, results):
            values, key = _outcome(platform, d, attempts, result)
            writes.append({"b_id": uuid.UUID(d.id), **values})
            DELIVERIES.labels(d.channel, key).inc()
            outcome[key] += 1
    if writes:
        t = Row.__table__
        stmt = t.update().where(t.c.id == bindparam("b_id"), t.c.status == "sending").values(
            status=bindparam("b_status"), reason=bindparam("b_reason"), sent_at=bindparam("b_sent_at"),
            not_before=bindparam("b_not_before"))
        with platform.session() as s:
            s.execute(stmt, writes)
    return outcome


def _claim(platform, ids: list[uuid.UUID]) -> list[tuple[Delivery, int]]:
    """``pending`` and due -> ``sending`` (attempts + 1): a row another runner claimed, or that
    is not due, is not returned, so no two runners ever send the same row."""
    now = platform.clock.now()
    rows = []
    with platform.session() as s:
        for i in range(0, len(ids), 500):
            rows.extend(s.execute(update(Row).where(
                Row.id.in_(ids[i:i + 500]), Row.status == "pending",
                or_(Row.not_before.is_(None), Row.not_before <= now))
                .values(status="sending", attempts=Row.attempts + 1)
                .returning(Row.id, Row.recipient_id, Row.kind, Row.channel, Row.title, Row.body, Row.url, Row.data,
                           Row.attempts)
                .execution_options(synchronize_session=False)).all())
    return [(Delivery(id=str(r.id), recipient_id=str(r.recipient_id), kind=r.kind, channel=r.channel, title=r.title,
                      body=r.body, url=r.url, data=dict(r.data or {}),
                      unsubscribe_url=None if r.channel == "inbox" else unsubscribe_url(platform, r.recipient_id, r.kind)),
             r.attempts) for r in rows]


def _send(platform, channel, channel_id: str, deliveries: list[Delivery]) -> list:
    """One result per delivery: a ``DeliveryResult`` or the exception the channel raised."""
    if channel is None:
        return [TemporaryFailure(f"channel {channel_id} is not available")] * len(deliveries)
    many = getattr(channel, "deliver_many", None)
    if many is not None:
        try:
            results = list(many(platform, deliveries))
        except Exception as exc:  # the whole batch failed: every row is retried
            log.exception("channel %s failed a batch of %d", channel_id, len(deliveries))
            return [exc] * len(deliveries)
        if len(results) == len(deliveries):
            return results
        log.error("channel %s answered %d results for %d deliveries", channel_id, len(results), len(deliveries))
        return [TemporaryFailure("channel answered the wrong number of results")] * len(deliveries)
    out = []
    for d in deliveries:
        try:
            out.append(channel.deliver(platform, d))
        except Exception as exc:
            out.append(exc)
    return out


def _outcome(platform, d: Delivery, attempts: int, result) -> tuple[dict[str, Any], str]:
    """The row's new values and the outcome's name for one channel result."""
    none = {"b_sent_at": None, "b_not_before": None}
    if not isinstance(result, Exception):
        return {**none, "b_status": "sent", "b_sent_at": platform.clock.now(),
                "b_reason": (getattr(result, "detail", "") or None)}, "sent"
    if isinstance(result, PermanentFailure):
        return {**none, "b_status": "failed", "b_reason": str(result.reason)[:500]}, "failed"
    # TemporaryFailure and anything unexpected: try again later
    if attempts >= MAX_ATTEMPTS:
        return {**none, "b_status": "failed",
                "b_reason": f"gave up after {attempts} attempts: {result}"[:500]}, "failed"
    if not isinstance(result, TemporaryFailure):
        log.error("channel %s raised on delivery %s", d.channel, d.id, exc_info=result)
    return {**none, "b_status": "pending", "b_reason": f"{type(result).__name__}: {result}"[:500],
            "b_not_before": platform.clock.now() + backoff(attempts)}, "retry"


def deliver_due(platform, limit: int = 5000) -> dict:
    """Send the push and email rows that are due: quiet hours over, back-off elapsed (periodic)."""
    now = platform.clock.now()
    with platform.read() as s:
        ids = list(s.scalars(select(Row.id).where(
            Row.status == "pending", Row.channel != "inbox",
            or_(and_(Row.not_before.is_not(None), Row.not_before <= now),
                and_(Row.not_before.is_(None), Row.created_at <= now - timedelta(minutes=5)))).limit(limit)))
    return deliver_ids(platform, ids) if ids else {"sent": 0}


def due_job(ctx) -> dict:
    return deliver_due(ctx.platform)
