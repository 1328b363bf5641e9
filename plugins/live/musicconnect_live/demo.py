"""The live plugin's demo data (``seed_demo``, idempotent): a listening party in three days with
RSVPs from the cast, and one that took place last week with its listeners, chat history, a
moderator and its recap. Runs after the other plugins (``trylast``), so the streaming plugin's
demo tracks exist (still processing at seed time: ready moments later); without them the parties
have an empty playlist."""
from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, insert, select

from musicconnect.models import ContentItem

from . import parties
from .models import Attendance, ChatMessage, Moderator, Party, Rsvp

LINES = ("Hello from Lisbon!", "This intro 😍", "Turn it up", "The synths at 0:40!", "First time hearing this live",
         "Encore!", "That bassline", "Thank you for doing this", "Night Drive next please", "Goosebumps")


def seed(platform, session, demo) -> None:
    artist = demo.artist_profile
    if session.scalar(select(func.count()).select_from(Party).where(Party.artist_id == artist.id)):
        return
    now = platform.clock.now()
    rng = demo.rng("live")
    tracks = session.execute(select(ContentItem.id, ContentItem.data).where(
        ContentItem.artist_id == artist.id, ContentItem.kind == "track", ContentItem.status.in_(("ready", "processing")),
        ContentItem.visibility == "public").order_by(ContentItem.publish_at).limit(4)).all()
    playlist = [{"track_id": str(i), "duration": float((d or {}).get("duration") or 0) or parties.DEFAULT_DURATION}
                for i, d in tracks]
    fans = [f.user_id for f in demo.population] or [demo.fan.id]
    start = (now + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    upcoming = Party(id=uuid.uuid4(), artist_id=artist.id, host_id=demo.artist.id, title="Album premiere: listen with me",
                     description="The new record, front to back, with the band in the chat.", starts_at=start,
                     timezone=artist.timezone or "UTC", visibility="public", playlist=playlist, status="scheduled",
                     created_at=now - timedelta(days=1))
    past_start = (now - timedelta(days=7)).replace(minute=0, second=0, microsecond=0)
    length = max(10.0, sum(e["duration"] for e in playlist))
    past = Party(id=uuid.uuid4(), artist_id=artist.id, host_id=demo.artist.id, title="Demo tapes night",
                 description="Rough mixes and the stories behind them.", starts_at=past_start,
                 timezone=artist.timezone or "UTC", visibility="public", playlist=playlist, status="ended",
                 starting_notified=True, started_at=past_start, ended_at=past_start + timedelta(seconds=length),
                 state_at=past_start, track_index=len(playlist), version=2, created_at=past_start - timedelta(days=5))
    session.add_all([upcoming, past])
    session.flush()
    going = rng.sample(fans, min(len(fans), 12))
    session.execute(insert(Rsvp), [{"party_id": upcoming.id, "user_id": u, "created_at": now - timedelta(hours=i)}
                                   for i, u in enumerate([demo.fan.id, *[u for u in going if u != demo.fan.id]])])
    came = rng.sample(fans, min(len(fans), 20))
    stays = []
    for u in came:
        joined = past.started_at + timedelta(seconds=rng.uniform(0, length * 0.4))
        left = min(past.ended_at, joined + timedelta(seconds=rng.uniform(length * 0.3, length)))
        stays.append({"id": uuid.uuid4(), "party_id": past.id, "user_id": u, "joined_at": joined, "left_at": left})
    session.execute(insert(Attendance), stays)
    room = parties.room_of(past.id)
    chatters = came[:8] or fans[:1]
    rows = [{"room": room, "artist_id": artist.id, "user_id": demo.artist.id, "text": "Welcome everyone! Grab a drink.",
             "deleted": False, "created_at": past.started_at + timedelta(seconds=5)}]
    for i, line in enumerate(LINES):
        at = past.started_at + timedelta(seconds=10 + i * (length - 20) / len(LINES))
        rows.append({"room": room, "artist_id": artist.id, "user_id": chatters[i % len(chatters)], "text": line,
                     "deleted": False, "created_at": at})
    session.execute(insert(ChatMessage), rows)
    if demo.superfan is not None:
        session.add(Moderator(artist_id=artist.id, user_id=demo.superfan.id, created_at=past_start - timedelta(days=1)))
    session.flush()
    past.recap = parties.recap(session, past)
