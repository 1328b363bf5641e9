"""Listening parties: creation, who may see them, the party clock, transitions and the recap.

Every transition (starting soon, started, ended) is one conditional UPDATE on the party's status
or flag, so the sweep job, a request and a socket may race for it and only one wins (and emits).
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from musicconnect import Actor, Problem, resource_of
from musicconnect.models import Artist, ContentItem, DomainEvent, Tier

from . import sync
from .models import Attendance, ChatMessage, Moderator, Party, Rsvp

STARTING_SOON = timedelta(minutes=15)
DEFAULT_DURATION = 180.0
#: a listener "attended" a party after this long in it (or half the party, if it was shorter)
ATTENDED_AFTER = timedelta(minutes=5)
MAX_TRACKS = 100
MAX_AHEAD = timedelta(days=366)


def room_of(party_id: uuid.UUID) -> str:
    return f"party:{party_id}"


def get(s: Session, party_id: uuid.UUID) -> Party:
    party = s.get(Party, party_id)
    if party is None:
        raise Problem(404, "party-not-found", "no listening party with this id", party_id=str(party_id))
    return party


def is_host(platform, s: Session, actor: Actor | None, artist_id: uuid.UUID) -> bool:
    """The artist (or an admin) and the moderators they appointed."""
    if actor is None:
        return False
    if platform.access.manages(actor, artist_id):
        return True
    return s.get(Moderator, (artist_id, actor.user_id)) is not None


def follows(s: Session, user_id: uuid.UUID, artist_id: uuid.UUID) -> bool:
    """Whether the user follows the artist now: the latest follow / unfollow domain event."""
    last = s.scalar(select(DomainEvent.type).where(
        DomainEvent.artist_id == artist_id, DomainEvent.actor_id == user_id,
        DomainEvent.type.in_(("fan.followed", "fan.unfollowed"))).order_by(DomainEvent.occurred_at.desc()).limit(1))
    return last == "fan.followed"


def refusal(platform, s: Session, actor: Actor | None, party: Party) -> Problem | None:
    """Why ``actor`` may not see ``party``, or ``None`` when they may."""
    if party.visibility == "public" or is_host(platform, s, actor, party.artist_id):
        return None
    if actor is None:
        return Problem(401, "unauthorized", "sign in to join this listening party")
    ctx = platform.access.context(actor, party.artist_id)
    if party.visibility == "followers":
        if ctx.best_rank() is not None or follows(s, actor.user_id, party.artist_id):
            return None
        return Problem(403, "party-not-allowed", "this listening party is for the artist's followers",
                       reason="followers only")
    tier = s.get(Tier, party.min_tier_id) if party.min_tier_id else None
    rank = ctx.best_rank()
    if tier is not None and rank is not None and rank >= tier.rank:
        return None
    name = tier.name if tier else "a tier"
    return Problem(403, "party-not-allowed", f"this listening party is for members of {name} or above",
                   reason="tier required", required_tier=str(party.min_tier_id) if party.min_tier_id else None)


def require_view(platform, s: Session, actor: Actor | None, party: Party) -> None:
    problem = refusal(platform, s, actor, party)
    if problem is not None:
        raise problem


def require_host(platform, s: Session, actor: Actor, party: Party) -> None:
    if not is_host(platform, s, actor, party.artist_id):
        raise Problem(403, "party-not-allowed", "only the artist and their moderators host a party",
                      reason="not the host")


def require_open(party: Party) -> None:
    if party.status == "ended":
        raise Problem(409, "party-ended", "this listening party has ended", party_id=str(party.id))


# ---------------------------------------------------------------- creation

def create(platform, s: Session, actor: Actor, *, artist_id: uuid.UUID, title: str, description: str,
           starts_at: datetime, timezone: str | None, playlist: list[uuid.UUID], visibility: str,
           min_tier_id: uuid.UUID | None) -> Party:
    if s.get(Artist, artist_id) is None:
        raise Problem(404, "not-found", "artist not found")
    if not platform.access.manages(actor, artist_id):
        raise Problem(403, "forbidden", "only the artist schedules their listening parties")
    if starts_at.tzinfo is None:
        raise Problem(422, "invalid-party", "starts_at needs a time zone (e.g. 2026-06-01T20:00:00+02:00)")
    tz = timezone or "UTC"
    try:
        ZoneInfo(tz)
    except Exception:
        raise Problem(422, "invalid-party", f"unknown time zone {tz!r}") from None
    now = platform.clock.now()
    try:
        starts_at = starts_at.astimezone(dt_timezone.utc)
    except (OverflowError, ValueError):
        starts_at = None
    if starts_at is None or not now < starts_at <= now + MAX_AHEAD:
        raise Problem(422, "invalid-party", "starts_at must be in the future, within a year")
    if visibility == "tier":
        tier = s.get(Tier, min_tier_id) if min_tier_id else None
        if tier is None or tier.artist_id != artist_id:
            raise Problem(422, "invalid-party", "min_tier_id is not a tier of this artist (a tier party needs one)")
    else:
        min_tier_id = None  # only a tier party has a minimum tier
    if len(set(playlist)) != len(playlist):
        raise Problem(422, "invalid-playlist", "a track appears twice in the playlist")
    items = {i.id: i for i in s.scalars(select(ContentItem).where(ContentItem.id.in_(playlist)))} if playlist else {}
    entries = []
    for track_id in playlist:
        item = items.get(track_id)
        if item is None or item.kind != "track" or item.artist_id != artist_id or item.status != "ready":
            raise Problem(422, "invalid-playlist", f"{track_id} is not a track of this artist that is ready to play",
                          track_id=str(track_id))
        duration = float((item.data or {}).get("duration") or 0) or DEFAULT_DURATION
        entries.append({"track_id": str(track_id), "duration": duration})
    party = Party(id=uuid.uuid4(), artist_id=artist_id, host_id=actor.user_id, title=title, description=description,
                  starts_at=starts_at, timezone=tz, visibility=visibility, min_tier_id=min_tier_id, playlist=entries,
                  status="scheduled", created_at=now)
    s.add(party)
    s.flush()
    platform.emit(s, "live.party_scheduled", actor_id=actor.user_id, artist_id=artist_id, subject=("party", party.id),
                  data={"title": title, "starts_at": starts_at.isoformat(), "visibility": visibility})
    return party


# ---------------------------------------------------------------- the clock

def durations(party: Party) -> list[float]:
    return [float(e["duration"]) for e in party.playlist or []]


def playback(party: Party, now: datetime) -> sync.Playback:
    if party.status != "live" or party.state_at is None:
        return sync.Playback(party.track_index if party.status == "ended" else 0, 0.0, False, party.status == "ended")
    return sync.position_at(durations(party), party.track_index, party.position, party.state_at.timestamp(),
                            party.playing, now.timestamp())


def state(party: Party, now: datetime) -> dict[str, Any]:
    """The universal state message: the same for every listener (their locks came with the join)."""
    pb = playback(party, now)
    track = party.playlist[pb.index]["track_id"] if not pb.ended and pb.index < len(party.playlist) else None
    return {"type": "state", "party_id": str(party.id), "status": "ended" if pb.ended and party.status != "scheduled"
            else party.status, "index": pb.index, "track_id": track, "position": round(pb.position, 4),
            "at": now.timestamp(), "playing": pb.playing and not pb.ended, "version": party.version}


def playlist_for(platform, s: Session, actor: Actor | None, party: Party) -> list[dict[str, Any]]:
    """The playlist as this listener gets it: per track the core's ``stream`` decision; a locked
    track has no playlist URL."""
    ids = [uuid.UUID(e["track_id"]) for e in party.playlist or []]
    items = {i.id: i for i in s.scalars(select(ContentItem).where(ContentItem.id.in_(ids)))} if ids else {}
    out = []
    for i, e in enumerate(party.playlist or []):
        item = items.get(uuid.UUID(e["track_id"]))
        allowed = item is not None and platform.access.decide(actor, "stream", resource_of(item)).allowed
        out.append({"index": i, "track_id": e["track_id"], "title": item.title if item else None,
                    "duration": e["duration"], "locked": not allowed,
                    "master_url": f"/api/v1/streaming/tracks/{e['track_id']}/master.m3u8" if allowed else None})
    return out


def _set_state(s: Session, party: Party, *, index: int, position: float, playing: bool, now: datetime) -> None:
    party.track_index, party.position, party.playing, party.state_at = index, position, playing, now
    party.version = (party.version or 0) + 1


def control(platform, s: Session, actor: Actor, party: Party, action: str, *, position: float | None = None,
            index: int | None = None) -> None:
    """pause, resume, seek (within the current track), skip (to ``index`` or the next track), end."""
    require_host(platform, s, actor, party)
    require_open(party)
    now = platform.clock.now()
    if action == "end":
        end(platform, s, party, reason="host", actor_id=actor.user_id)
        return
    if party.status != "live":
        raise Problem(409, "party-not-started", "the listening party has not started yet")
    pb = playback(party, now)
    if pb.ended:
        end(platform, s, party, reason="playlist")
        raise Problem(409, "party-ended", "this listening party has ended", party_id=str(party.id))
    durs = durations(party)
    if action == "pause":
        _set_state(s, party, index=pb.index, position=pb.position, playing=False, now=now)
    elif action == "resume":
        _set_state(s, party, index=pb.index, position=pb.position, playing=True, now=now)
    elif action == "seek":
        if position is None or not 0 <= position < durs[pb.index]:
            raise Problem(422, "invalid-seek", f"position must be within the current track (0 to {durs[pb.index]} s)")
        _set_state(s, party, index=pb.index, position=float(position), playing=pb.playing, now=now)
    elif action == "skip":
        target = pb.index + 1 if index is None else index
        if not 0 <= target < len(durs):
            if index is None:  # skipping past the last track ends the party
                end(platform, s, party, reason="playlist")
                return
            raise Problem(422, "invalid-seek", f"index must be 0 to {len(durs) - 1}")
        _set_state(s, party, index=target, position=0.0, playing=pb.playing, now=now)
    platform.emit(s, "live.party_controlled", actor_id=actor.user_id, artist_id=party.artist_id,
                  subject=("party", party.id), data={"action": action, "index": party.track_index,
                                                      "position": party.position})


# ---------------------------------------------------------------- transitions

def tick(platform, s: Session, party: Party) -> bool:
    """Bring one party's status up to the clock (idempotent; returns whether it changed)."""
    now = platform.clock.now()
    changed = False
    if party.status == "scheduled" and not party.starting_notified and party.starts_at - STARTING_SOON <= now:
        won = s.execute(update(Party).where(Party.id == party.id, Party.starting_notified.is_(False))
                        .values(starting_notified=True)).rowcount
        if won:
            platform.emit(s, "live.party_starting", artist_id=party.artist_id, subject=("party", party.id),
                          data={"title": party.title, "starts_at": party.starts_at.isoformat()})
            changed = True
        s.refresh(party)
    if party.status == "scheduled" and party.starts_at <= now:
        won = s.execute(update(Party).where(Party.id == party.id, Party.status == "scheduled").values(
            status="live", started_at=now, state_at=now, track_index=0, position=0.0, playing=True,
            version=Party.version + 1)).rowcount
        if won:
            platform.emit(s, "live.party_started", artist_id=party.artist_id, subject=("party", party.id),
                          data={"title": party.title})
            changed = True
        s.refresh(party)
    if party.status == "live" and playback(party, now).ended:
        changed = end(platform, s, party, reason="playlist") or changed
    return changed


def sweep(platform) -> int:
    """Every party due a transition (the scheduled job runs this every 30 s)."""
    now = platform.clock.now()
    changed = 0
    with platform.session() as s:
        due = s.scalars(select(Party).where(
            (Party.status == "live") | ((Party.status == "scheduled") & (Party.starts_at <= now + STARTING_SOON)))).all()
        for party in due:
            changed += tick(platform, s, party)
    return changed


def end(platform, s: Session, party: Party, *, reason: str, actor_id: uuid.UUID | None = None) -> bool:
    now = platform.clock.now()
    won = s.execute(update(Party).where(Party.id == party.id, Party.status != "ended").values(
        status="ended", ended_at=now, playing=False, version=Party.version + 1)).rowcount
    s.refresh(party)
    if not won:
        return False
    s.execute(update(Attendance).where(Attendance.party_id == party.id, Attendance.left_at.is_(None))
              .values(left_at=now))
    party.recap = recap(s, party)
    platform.emit(s, "live.party_ended", actor_id=actor_id, artist_id=party.artist_id, subject=("party", party.id),
                  data={"reason": reason, "peak_listeners": party.recap["peak_listeners"]})
    for user_id, seconds in attendees(s, party):
        platform.emit(s, "live.party_attended", actor_id=user_id, artist_id=party.artist_id,
                      subject=("party", party.id), data={"minutes": round(seconds / 60, 1)}, at=now)
    return True


def attendees(s: Session, party: Party) -> list[tuple[uuid.UUID, float]]:
    """``(user_id, seconds)`` of every signed-in listener who stayed long enough to have attended
    ``party`` (an ended one): :data:`ATTENDED_AFTER` in total over all their sockets (overlapping
    tabs count once), or half the party if it was shorter. Joining for a second is not attending."""
    start = party.started_at or party.starts_at
    stop = party.ended_at or start
    need = min(ATTENDED_AFTER.total_seconds(), (stop - start).total_seconds() / 2)
    stays: dict[uuid.UUID, list[tuple[datetime, datetime]]] = {}
    for user_id, joined_at, left_at in s.execute(
            select(Attendance.user_id, Attendance.joined_at, Attendance.left_at)
            .where(Attendance.party_id == party.id, Attendance.user_id.is_not(None))):
        a, b = max(joined_at, start), min(left_at or stop, stop)
        if b > a:
            stays.setdefault(user_id, []).append((a, b))
    out = []
    for user_id, spans in stays.items():
        total, lo, hi = 0.0, None, None
        for a, b in sorted(spans):  # the union of the spans
            if hi is None or a > hi:
                total += (hi - lo).total_seconds() if hi is not None else 0.0
                lo, hi = a, b
            else:
                hi = max(hi, b)
        total += (hi - lo).total_seconds()
        if need > 0 and total >= need:
            out.append((user_id, total))
    return sorted(out, key=lambda x: str(x[0]))


def recap(s: Session, party: Party) -> dict[str, Any]:
    """Listeners per minute (from the attendance intervals), peak, messages, new followers and
    supporters (domain events between start and end)."""
    start = party.started_at or party.starts_at
    stop = party.ended_at or start
    stays = s.execute(select(Attendance.user_id, Attendance.joined_at, Attendance.left_at)
                      .where(Attendance.party_id == party.id)).all()
    minutes = max(1, int((stop - start).total_seconds() // 60) + (1 if (stop - start).total_seconds() % 60 else 0))
    series = []
    for m in range(min(minutes, 24 * 60)):
        a, b = start + timedelta(minutes=m), start + timedelta(minutes=m + 1)
        listeners = {u or i for i, (u, j, left) in enumerate(stays) if j < b and (left or stop) > a}
        series.append({"minute": m, "at": a.isoformat(), "listeners": len(listeners)})
    messages = s.scalar(select(func.count()).select_from(ChatMessage).where(ChatMessage.room == room_of(party.id))) or 0
    followers = s.scalar(select(func.count(func.distinct(DomainEvent.actor_id))).where(
        DomainEvent.artist_id == party.artist_id, DomainEvent.type == "fan.followed",
        DomainEvent.occurred_at >= start, DomainEvent.occurred_at <= stop)) or 0
    grants = s.execute(select(DomainEvent.data).where(
        DomainEvent.artist_id == party.artist_id, DomainEvent.type == "entitlement.granted",
        DomainEvent.occurred_at >= start, DomainEvent.occurred_at <= stop)).scalars().all()
    paid = {t.id for t in s.scalars(select(Tier).where(Tier.artist_id == party.artist_id, Tier.rank > 0))}
    supporters = {d.get("user_id") for d in grants if d and d.get("tier_id") and uuid.UUID(d["tier_id"]) in paid}
    return {"started_at": start.isoformat(), "ended_at": stop.isoformat(),
            "listeners": series, "peak_listeners": max((p["listeners"] for p in series), default=0),
            "unique_listeners": len({u for u, _, _ in stays if u}), "messages": messages,
            "new_followers": followers, "new_supporters": len(supporters)}


# ---------------------------------------------------------------- presence

def joined(platform, party_id: uuid.UUID, user_id: uuid.UUID | None) -> uuid.UUID:
    with platform.session() as s:
        stay = Attendance(id=uuid.uuid4(), party_id=party_id, user_id=user_id, joined_at=platform.clock.now())
        s.add(stay)
    return stay.id


def left(platform, stay_id: uuid.UUID) -> None:
    with platform.session() as s:
        s.execute(update(Attendance).where(Attendance.id == stay_id, Attendance.left_at.is_(None))
                  .values(left_at=platform.clock.now()))


def rsvp(platform, s: Session, actor: Actor, party: Party, going: bool) -> int:
    row = s.get(Rsvp, (party.id, actor.user_id))
    if going and row is None:
        s.add(Rsvp(party_id=party.id, user_id=actor.user_id, created_at=platform.clock.now()))
        s.flush()
    elif not going and row is not None:
        s.delete(row)
        s.flush()
    return s.scalar(select(func.count()).select_from(Rsvp).where(Rsvp.party_id == party.id)) or 0


def summary(platform, s: Session, actor: Actor | None, party: Party) -> dict[str, Any]:
    now = platform.clock.now()
    going = s.scalar(select(func.count()).select_from(Rsvp).where(Rsvp.party_id == party.id)) or 0
    mine = actor is not None and s.get(Rsvp, (party.id, actor.user_id)) is not None
    return {"id": party.id, "artist_id": party.artist_id, "title": party.title, "description": party.description,
            "starts_at": party.starts_at, "timezone": party.timezone,
            "starts_at_local": party.starts_at.astimezone(ZoneInfo(party.timezone)).isoformat(),
            "visibility": party.visibility, "min_tier_id": party.min_tier_id, "status": party.status,
            "rsvps": going, "rsvped": mine, "started_at": party.started_at, "ended_at": party.ended_at,
            "playlist": playlist_for(platform, s, actor, party), "state": state(party, now),
            "socket": f"/api/v1/live/parties/{party.id}/socket"}
