"""Play reports and the metrics built on them.

A listening session starts with ``start``; ``progress`` and ``complete`` report the position.
Listened time only grows by what wall-clock time allows (no inflated reports). The play counts
once it reaches ``play_count_seconds`` (30 s, the industry rule), at most once per listener and
track within ``play_dedupe_minutes``; anonymous plays also count at most
``anonymous_plays_per_hour`` times per client address and track. Every step is a domain event for
the analytics sinks."""
from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

from sqlalchemy import and_, func, select

from musicconnect import Metric, NotFound, Problem, Unauthorized
from musicconnect.models import ContentItem

from .models import Play

SLACK = 1.25  # reports may run a little ahead of the wall clock (buffering, seeking)


def listener_id(actor, client_id: str | None, ip: str) -> str:
    if actor is not None:
        return f"u:{actor.user_id}"
    raw = client_id or ip
    return "a:" + hashlib.sha256(raw.encode()).hexdigest()[:32]


def start(platform, s, item: ContentItem, actor, listener: str) -> Play:
    now = platform.clock.now()
    duration = float((item.data or {}).get("duration") or 0)
    play = Play(id=uuid.uuid4(), content_id=item.id, artist_id=item.artist_id, listener=listener,
                user_id=actor.user_id if actor else None, started_at=now, last_report_at=now, seconds=0.0,
                duration=duration)
    s.add(play)
    s.flush()
    platform.emit(s, "play.started", actor_id=play.user_id, artist_id=item.artist_id, subject=("content", item.id),
                  data={"session_id": str(play.id), "listener": listener})
    return play


def anonymous_allowance(platform, address: str, content_id) -> bool:
    """Anonymous listeners name themselves (``client_id``), so made-up ids would each count: a
    counted anonymous play also takes one of ``anonymous_plays_per_hour`` per client address and
    track (the platform's rate limiter: in memory, or Redis shared by every API process). Over
    the allowance the play is still accepted, just not counted."""
    per_hour = platform.plugin_settings("streaming").anonymous_plays_per_hour
    if per_hour <= 0:
        return False
    who = hashlib.sha256(b"mc-anon-play\x00" + (address or "unknown").encode()).hexdigest()[:32]
    return platform.ratelimiter.hit(f"{per_hour}/hour", "streaming-anon-play", who, str(content_id)).allowed


def report(platform, s, play: Play, event: str, position: float, address: str | None = None) -> Play:
    settings = platform.plugin_settings("streaming")
    now = platform.clock.now()
    elapsed = (now - play.started_at).total_seconds()
    listened = max(play.seconds, min(float(position), elapsed * SLACK + 1.0, play.duration or float(position)))
    play.seconds = listened
    play.last_report_at = now
    if play.flagged_at is None and play.counted_at is None and listened >= min(settings.play_count_seconds, play.duration or settings.play_count_seconds):
        window = now - timedelta(minutes=settings.play_dedupe_minutes)
        dup = s.scalar(select(Play.id).where(Play.listener == play.listener, Play.content_id == play.content_id,
                                             Play.counted_at.is_not(None), Play.counted_at > window, Play.id != play.id))
        if dup is None and (play.user_id is not None or anonymous_allowance(platform, address, play.content_id)):
            # abuse screens (play farming, faster than real time): a flagged play is kept, not counted
            verdict = platform.screen_activity("play.counted", play.user_id, address=address, artist_id=play.artist_id,
                                               content_id=play.content_id, seconds=listened, elapsed=elapsed,
                                               session_id=play.id)
            if verdict.action != "allow":
                play.flagged_at = now  # screened once: later reports of this session neither count nor re-screen
                platform.emit(s, "play.flagged", actor_id=play.user_id, artist_id=play.artist_id,
                              subject=("content", play.content_id),
                              data={"session_id": str(play.id), "seconds": listened, "reason": verdict.reason,
                                    "detail": verdict.detail, "score": verdict.score, **dict(verdict.data)})
            else:
                play.counted_at = now
                platform.emit(s, "play.counted", actor_id=play.user_id, artist_id=play.artist_id,
                              subject=("content", play.content_id),
                              data={"session_id": str(play.id), "seconds": listened})
    if event == "complete" and not play.completed and play.flagged_at is None:  # a flagged play never completes
        play.completed = True
        platform.emit(s, "play.completed", actor_id=play.user_id, artist_id=play.artist_id,
                      subject=("content", play.content_id), data={"session_id": str(play.id), "seconds": listened})
    return play


def get_play(s, session_id: uuid.UUID, actor) -> Play:
    """The listening session a report is about. Its id is the server's random UUID, handed only to
    whoever started it: for an anonymous session the id alone is the capability (no ``client_id``
    needed, so a changed address or a lost client id does not orphan it); a signed-in listener's
    session takes reports from that listener only (anyone else: 404, as for an unknown id)."""
    play = s.get(Play, session_id)
    if play is None:
        raise NotFound("listening session")
    if play.user_id is not None and (actor is None or actor.user_id != play.user_id):
        if actor is None:
            raise Unauthorized("this listening session was started signed in: report it with that account's token")
        raise NotFound("listening session")
    return play


# ---------------------------------------------------------------- metrics

def _counted(artist_id, window):
    return and_(Play.artist_id == artist_id, Play.counted_at.is_not(None), Play.counted_at >= window.start,
                Play.counted_at <= window.end)


def plays(platform, artist_id, window):
    with platform.session() as s:
        return s.scalar(select(func.count()).select_from(Play).where(_counted(artist_id, window))) or 0


def listeners(platform, artist_id, window):
    with platform.session() as s:
        return s.scalar(select(func.count(func.distinct(Play.listener))).where(_counted(artist_id, window))) or 0


def completion_rate(platform, artist_id, window):
    with platform.session() as s:
        started = s.scalar(select(func.count()).select_from(Play).where(
            Play.artist_id == artist_id, Play.started_at >= window.start, Play.started_at <= window.end)) or 0
        done = s.scalar(select(func.count()).select_from(Play).where(
            Play.artist_id == artist_id, Play.started_at >= window.start, Play.started_at <= window.end,
            Play.completed.is_(True))) or 0
    return round(done / started, 4) if started else None


def top_tracks(platform, artist_id, window):
    with platform.session() as s:
        rows = s.execute(select(Play.content_id, ContentItem.title, func.count().label("n"))
                         .join(ContentItem, ContentItem.id == Play.content_id)
                         .where(_counted(artist_id, window)).group_by(Play.content_id, ContentItem.title)
                         .order_by(func.count().desc(), ContentItem.title).limit(10)).all()
    return [{"content_id": str(c), "title": t, "plays": n} for c, t, n in rows]


METRICS = [
    Metric("plays_30d", "Plays", "Plays of 30 seconds or more in the window (one per listener and track per 30 min).", plays),
    Metric("listeners_30d", "Listeners", "Distinct listeners with a counted play in the window.", listeners),
    Metric("completion_rate", "Completion rate", "Share of listening sessions started in the window that reached the end.",
           completion_rate, unit="ratio"),
    Metric("top_tracks", "Top tracks", "The ten most played tracks in the window.", top_tracks, unit="table"),
]


def check_event(event: str, position: float) -> None:
    if event not in ("progress", "complete"):
        raise Problem(422, "validation", "event must be progress or complete")
    if not (0 <= position <= 24 * 3600):
        raise Problem(422, "validation", "position must be between 0 and 86400 seconds")
