"""Digests: the email rows of digestible kinds wait (``status = digest``) and go out together,
once per fan and window (daily, or weekly on Mondays), at the fan's usual active hour: the local
hour of day at which they most often caused events in the core's events table over the last 30
days (fallback :data:`FALLBACK_HOUR`). ``notify.digests`` runs hourly; each digest is itself a
delivery (kind ``notify.digest``, object ``digest:<local date>``), so it is sent at most once."""
from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta

from sqlalchemy import select, update

from musicconnect.models import DomainEvent, User

from . import prefs as prefs_mod
from .models import Delivery as Row

FALLBACK_HOUR = 18
DIGEST_KIND = "notify.digest"


def active_hour(session, user_id: uuid.UUID, zone, now) -> int:
    since = now - timedelta(days=30)
    times = session.scalars(select(DomainEvent.occurred_at).where(
        DomainEvent.actor_id == user_id, DomainEvent.occurred_at >= since).order_by(DomainEvent.occurred_at.desc())
        .limit(1000)).all()
    if not times:
        return FALLBACK_HOUR
    counts = Counter(t.astimezone(zone).hour for t in times)
    return max(sorted(counts), key=lambda h: counts[h])  # the most frequent; the earliest on a tie


def run(platform) -> dict:
    from .pipeline import insert_batch

    now = platform.clock.now()
    sent = 0
    with platform.read() as s:
        waiting = sorted(set(s.scalars(select(Row.recipient_id).where(Row.status == "digest", Row.channel == "email"))))
    for uid in waiting:
        with platform.session() as s:
            p = prefs_mod.load(s, [uid]).get(uid)
            if p is None:
                continue
            zone = p.zone()
            local = now.astimezone(zone)
            if p.digest == "weekly" and local.weekday() != 0:
                continue
            if p.digest != "off" and local.hour != active_hour(s, uid, zone, now):
                continue
            rows = s.scalars(select(Row).where(Row.recipient_id == uid, Row.status == "digest",
                                               Row.channel == "email").order_by(Row.created_at)).all()
            if not rows:
                continue
            ids = [r.id for r in rows]
            lines = [f"- {r.title}" + (f" ({r.url})" if r.url else "") for r in rows]
            title = f"{len(rows)} update{'s' if len(rows) != 1 else ''} from your artists"
            body = "\n".join(lines)
            s.execute(update(Row).where(Row.id.in_(ids), Row.status == "digest").values(status="digested"))
            user = s.get(User, uid)
            if user is None:
                continue
        insert_batch(platform, recipients=[str(uid)], kind=DIGEST_KIND, object_key=f"digest:{local.date().isoformat()}",
                     artist_id=None, title=title, body=body, url=None,
                     data={"items": [str(i) for i in ids]}, channels=["email"], digestible=False)
        sent += 1
    return {"digests": sent}


def job(ctx) -> dict:
    return run(ctx.platform)
