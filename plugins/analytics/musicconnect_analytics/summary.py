"""The artist's weekly summary: a domain event once per artist and ISO week, which the notify
plugin turns into an inbox item and an email for the artist.

* ``JOBS``: ``analytics.weekly_summary`` runs hourly (``every_seconds``); each run summarises the
  last *complete* ISO week (Monday 00:00 UTC to the next Monday) for every artist that existed
  before that week ended and has no summary for it yet. Enqueued by hand it takes ``week``
  (``"2026-W22"``) and ``artist_id`` to (re)consider one week or one artist; it never emits twice.
* The event: ``analytics.weekly_summary``, ``artist_id`` the artist, ``subject ("week", "2026-W22")``,
  ``data`` the week's figures (:func:`week_figures`): plays and listeners, follows and supporters
  from the week's events, net revenue and MRR (minor units, and as text) from the rollups.
* ``NOTIFICATION_KINDS``: ``analytics.weekly_summary`` (inbox + email) to the artist's own user.

Idempotent: the event itself is the record (``domain_events``, looked up through the
``(artist_id, type, occurred_at)`` index); the artist row is locked (``FOR UPDATE`` on PostgreSQL;
on SQLite the transaction writes a meta row first, which takes the database's write lock) while
one artist's week is checked and emitted, so two workers running
the job at once still emit one summary.

Public functions: :func:`iso_week` (the bounds of a week), :func:`week_figures` (the figures of
one artist's week, also usable by a dashboard), :func:`summarise` (emit one if missing).
"""
from __future__ import annotations

import uuid
from datetime import date, datetime, time as dtime, timedelta, timezone

from sqlalchemy import distinct, func, select

from musicconnect import JobSpec, NotificationKind, PermanentJobError, emit
from musicconnect.models import Artist, ContentItem, DomainEvent, Tier

EVENT = "analytics.weekly_summary"


def iso_week(label: str | None = None, *, now: datetime | None = None) -> tuple[str, datetime, datetime]:
    """``(label, start, end)`` of ISO week ``label`` (``"2026-W22"``), or of the last complete
    week before ``now``. ``start`` is Monday 00:00 UTC, ``end`` the next Monday (exclusive)."""
    if label is None:
        today = now.astimezone(timezone.utc).date()
        monday = today - timedelta(days=today.isoweekday() - 1) - timedelta(days=7)
    else:
        try:
            year, week = label.upper().split("-W")
            monday = date.fromisocalendar(int(year), int(week), 1)
        except ValueError as exc:
            raise ValueError(f"not an ISO week (like 2026-W22): {label!r}") from exc
    start = datetime.combine(monday, dtime.min, tzinfo=timezone.utc)
    y, w, _ = monday.isocalendar()
    return f"{y}-W{w:02d}", start, start + timedelta(days=7)


def _count(s, artist_id, etype, start, end) -> int:
    return s.scalar(select(func.count()).select_from(DomainEvent).where(
        DomainEvent.artist_id == artist_id, DomainEvent.type == etype,
        DomainEvent.occurred_at >= start, DomainEvent.occurred_at < end)) or 0


def _change(now: int, before: int) -> str:
    if before == 0:
        return "new" if now else "no change"
    pct = round(100 * (now - before) / before)
    return f"{pct:+d}%"


def week_figures(platform, artist_id: uuid.UUID, start: datetime, end: datetime) -> dict:
    """The key figures of one artist's week ``[start, end)`` and the change from the week before."""
    prev = start - (end - start)
    with platform.read() as s:
        def plays_in(a, b):
            return _count(s, artist_id, "play.counted", a, b)

        plays, plays_before = plays_in(start, end), plays_in(prev, start)
        listeners = s.scalar(select(func.count(distinct(DomainEvent.actor_id))).where(
            DomainEvent.artist_id == artist_id, DomainEvent.type == "play.counted",
            DomainEvent.occurred_at >= start, DomainEvent.occurred_at < end)) or 0
        top = s.execute(select(DomainEvent.subject_id, func.count()).where(
            DomainEvent.artist_id == artist_id, DomainEvent.type == "play.counted",
            DomainEvent.occurred_at >= start, DomainEvent.occurred_at < end,
            DomainEvent.subject_type == "content").group_by(DomainEvent.subject_id)
            .order_by(func.count().desc(), DomainEvent.subject_id).limit(1)).first()
        top_title, top_plays = None, 0
        if top is not None:
            try:
                item = s.get(ContentItem, uuid.UUID(top[0]))
            except ValueError:
                item = None
            top_title, top_plays = (item.title if item is not None else None), top[1]
        out = {
            "plays": plays, "plays_previous_week": plays_before, "plays_change": _change(plays, plays_before),
            "listeners": listeners,
            "new_followers": _count(s, artist_id, "fan.followed", start, end),
            "lost_followers": _count(s, artist_id, "fan.unfollowed", start, end),
            "new_supporters": _count(s, artist_id, "entitlement.granted", start, end),
            "lost_supporters": _count(s, artist_id, "entitlement.revoked", start, end),
            "top_track": top_title, "top_track_plays": top_plays,
        }
    out.update(_money(platform, artist_id, start, end))
    out["top_track_line"] = (f"Your most played track was {top_title} ({top_plays} plays)."
                             if top_title else "No track was played this week.")
    return out


def _money(platform, artist_id, start: datetime, end: datetime) -> dict:
    """Net revenue of the week and MRR at its end, from the rollups (minor units) and as text."""
    from . import rollups

    first, last = start.date(), (end - timedelta(days=1)).date()
    net = rollups.total(platform, artist_id, "net", first, last)
    mrr = rollups.total(platform, artist_id, "mrr", None, last)
    with platform.read() as s:
        currency = (s.scalar(select(Tier.currency).where(Tier.artist_id == artist_id, Tier.price_amount > 0)
                             .order_by(Tier.rank).limit(1)) or "EUR").upper()
    return {"net_revenue": net, "mrr": mrr, "currency": currency,
            "net_revenue_text": f"{net / 100:,.2f} {currency}", "mrr_text": f"{mrr / 100:,.2f} {currency}"}


def summarise(platform, artist_id: uuid.UUID, label: str, start: datetime, end: datetime) -> bool:
    """Emit the summary of this artist's week unless it exists; True when it was emitted now."""
    figures = week_figures(platform, artist_id, start, end)
    with platform.session() as s:
        if s.get_bind().dialect.name == "sqlite":
            # SQLite has no FOR UPDATE and the driver begins a transaction only at the first
            # write: write first (one meta row), so the check below runs under the write lock
            from .rollups import _stamp

            _stamp(s, "weekly_summary", platform.clock.now())
        artist = s.scalar(select(Artist).where(Artist.id == artist_id).with_for_update())
        if artist is None:
            return False
        done = s.scalar(select(DomainEvent.id).where(
            DomainEvent.artist_id == artist_id, DomainEvent.type == EVENT, DomainEvent.occurred_at >= end,
            DomainEvent.subject_type == "week", DomainEvent.subject_id == label).limit(1))
        if done is not None:
            return False
        emit(platform, s, EVENT, artist_id=artist_id, subject=("week", label),
             data={"week": label, "start": start.isoformat(), "end": end.isoformat(), **figures})
    return True


def weekly_summary(ctx, week: str | None = None, artist_id: str | None = None) -> dict:
    """The job: summarise one complete week for every artist (or one) that lacks its summary."""
    platform = ctx.platform
    now = platform.clock.now()
    try:
        label, start, end = iso_week(week, now=now)
    except ValueError as exc:
        raise PermanentJobError(str(exc)) from exc
    if end > now:
        raise PermanentJobError(f"the week {label} is not over yet")
    with platform.read() as s:
        q = select(Artist.id).where(Artist.created_at < end).order_by(Artist.id)
        if artist_id is not None:
            try:
                q = q.where(Artist.id == uuid.UUID(str(artist_id)))
            except ValueError:  # retrying cannot help
                raise PermanentJobError(f"not an artist id: {artist_id!r}") from None
        artists = list(s.scalars(q))
    emitted = 0
    for i, a in enumerate(artists):
        emitted += summarise(platform, a, label, start, end)
        if i % 50 == 0:
            ctx.progress(i / max(len(artists), 1), f"{i} of {len(artists)} artists")
    return {"week": label, "artists": len(artists), "emitted": emitted}


def _artist_user(platform, event) -> list:
    with platform.read() as s:
        user_id = s.scalar(select(Artist.user_id).where(Artist.id == event.artist_id))
    return [user_id] if user_id is not None else []


JOBS = [JobSpec("weekly_summary", weekly_summary, max_retries=3, every_seconds=3600)]

NOTIFICATION_KINDS = [
    NotificationKind(
        EVENT, "Weekly summary (artists)", EVENT,
        {"title": "Your week {week}: {plays} plays ({plays_change})",
         "body": ("{artist_name}, last week {listeners} listeners played your music {plays} times "
                  "({plays_change} on the week before). {top_track_line} "
                  "New followers: {new_followers} (lost {lost_followers}); "
                  "new supporters: {new_supporters} (lost {lost_supporters}). "
                  "Net revenue: {net_revenue_text}; MRR now {mrr_text}."),
         "url": "/artists/{artist_id}/analytics"},
        _artist_user, default_channels=("inbox", "email")),
]
