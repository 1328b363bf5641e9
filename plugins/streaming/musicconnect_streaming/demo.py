"""Demo tracks for the demo artist (public, supporter-exclusive, and an early-access release inside
its window), and a few weeks of plays by the demo's cast.

The tracks are real: generated audio (24 s each, to keep the seed fast), transcoded by the
ordinary job. The plays are the rows and events that :mod:`.plays` writes for real sessions
(``streaming_plays``; ``play.started`` / ``play.counted`` / ``play.completed``), inserted in bulk and
spread over the past three weeks relative to ``platform.clock.now()``: who may play what at a
given time follows the cast's tiers (the supporter track only while supporting, the early-access
one only inside the superfans' window). Idempotent: each part is written once."""
from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, insert, select

from musicconnect import on_commit
from musicconnect.models import ContentItem, DomainEvent

from . import media
from .models import Play, Track, TrackVersion
from .pipeline import JOB, prefix
from .scratch import Scratch

#: title, visibility, tier, released (days from now; negative: in the past), tone frequency, seed
DEMO_TRACKS = (
    ("Night Drive", "public", None, -30, 220, 0),
    ("Garage Demo #3", "tier", "supporter", -20, 330, 1),
    # superfans hear it 24 h early (their early_access perk): published 12 h from now, so on the
    # first run it is inside that window: superfans can play it, everyone else sees a locked teaser
    ("Next Single (early access)", "tier", "superfan", 0.5, 262, 2),
)
EARLY_ACCESS_HOURS = 24
HISTORY_DAYS = 21
#: the scene's tracks (the core's ``demo.scene``): titles handed out in order, one per artist (two
#: for the first; each transcode costs the seed a few seconds), 10 s of generated audio at the
#: artist's tempo, tagged with their style
SCENE_TITLES = ("Harbor Lights", "Low Tide", "Paper Moons", "Afterglow", "Basement Tapes", "Static Bloom",
                "Broken Amp", "Last Tram", "Blue Hour", "Slow Burn", "Rain Check", "Soft Focus", "First Light")
SCENE_SECONDS = 10


def seed(platform, session, demo) -> None:
    artist = demo.artist_profile
    superfan = demo.tiers.get("superfan")
    if superfan is not None and "offline_downloads" not in (superfan.perks or {}):
        superfan.perks = {**(superfan.perks or {}), "offline_downloads": 20}  # the core seeds bare tiers
        on_commit(session, lambda: platform.invalidate(("tiers", artist.id)))
    has = session.scalar(select(func.count()).select_from(ContentItem).where(
        ContentItem.artist_id == artist.id, ContentItem.kind == "track"))
    if not has:
        with Scratch(platform, "demo") as work:
            _seed_tracks(platform, session, demo, artist, work)
    if getattr(demo, "population", None) and not session.scalar(
            select(func.count()).select_from(Play).where(Play.artist_id == artist.id)):
        _seed_plays(platform, session, demo, artist)
    scene = list(getattr(demo, "scene", None) or [])
    if scene and not session.scalar(select(func.count()).select_from(ContentItem).where(
            ContentItem.artist_id.in_([a.artist_id for a in scene]), ContentItem.kind == "track")):
        with Scratch(platform, "demo") as work:
            _seed_scene_tracks(platform, session, demo, scene, work)
    if scene and getattr(demo, "population", None) and not session.scalar(
            select(func.count()).select_from(Play).where(Play.artist_id.in_([a.artist_id for a in scene]))):
        _seed_scene_plays(platform, session, demo, scene)


def _seed_tracks(platform, session, demo, artist, work) -> None:
    now = platform.clock.now()
    tags, bpm = _style(demo)
    for title, visibility, tier_key, days, freq, seed_n in DEMO_TRACKS:
        tier = demo.tiers[tier_key].id if tier_key else None
        _demo_track(platform, session, work, artist_id=artist.id, owner_id=demo.artist.id, title=title,
                    visibility=visibility, tier_id=tier, publish_at=now + timedelta(days=days), seconds=24,
                    seed_n=seed_n + 1, freq=freq, bpm=bpm, tags=tags)


def _style(demo) -> tuple[list[str], int | None]:
    return list(getattr(demo, "artist_tags", ()) or ()), getattr(demo, "artist_bpm", None)


def _seed_scene_tracks(platform, session, demo, scene, work) -> None:
    now = platform.clock.now()
    titles = iter(SCENE_TITLES)
    for i, a in enumerate(scene):
        releases = [a.debut_days] if i or a.debut_days < 7 else [a.debut_days, max(3, a.debut_days // 2)]
        for j, days in enumerate(releases):
            _demo_track(platform, session, work, artist_id=a.artist_id, owner_id=a.user_id,
                        title=next(titles, f"{a.name} {j + 1}"), visibility="public", tier_id=None,
                        publish_at=now - timedelta(days=days), seconds=SCENE_SECONDS, seed_n=100 + 10 * i + j,
                        freq=a.freq + 30 * j, bpm=a.bpm, tags=list(a.tags))


def _demo_track(platform, session, work, *, artist_id, owner_id, title, visibility, tier_id, publish_at, seconds,
                seed_n, freq, bpm, tags) -> None:
    """One demo track: generated audio uploaded as the original, transcoded by the ordinary job."""
    now = platform.clock.now()
    src = work / f"{seed_n}.flac"
    media.generated_tone(src, seconds, seed=seed_n, freq=freq, bpm=bpm)
    probe = media.probe(src)
    cid = uuid.uuid4()
    platform.content.create(session, artist_id=artist_id, kind="track", title=title, visibility=visibility,
                            required_tier_id=tier_id, publish_at=publish_at,
                            data={"duration": probe.duration, "tags": tags}, status="processing", actor_id=owner_id,
                            item_id=cid)
    session.add(Track(content_id=cid, artist_id=artist_id, version=0, pending_version=1, created_at=now))
    key = f"{prefix(cid, 1)}/original.flac"
    platform.storage.put_file(key, src)
    session.add(TrackVersion(content_id=cid, version=1, state="processing", original_key=key,
                             original_filename=src.name, size_bytes=src.stat().st_size, probe=probe.as_dict(),
                             duration=probe.duration, aes_key=secrets.token_bytes(16),
                             aes_iv="0x" + secrets.token_hex(16), artwork={}, created_at=now))
    session.flush()
    platform.jobs.enqueue(JOB, session=session, subject=("content", cid), owner_id=owner_id,
                          content_id=str(cid), version=1)


def _playable(track: ContentItem, needed: int, tier_rank: dict, fan, when: datetime) -> bool:
    """Whether ``fan`` could play ``track`` (needing rank ``needed``) at ``when`` (the tier rule and
    the early-access window)."""
    held = fan.paid_at(when) if fan is not None else None
    rank = tier_rank.get(held, 0) if held else 0
    if rank < needed:
        return False
    if when >= track.publish_at:
        return True
    return held == "superfan" and when >= track.publish_at - timedelta(hours=EARLY_ACCESS_HOURS)


def _seed_plays(platform, session, demo, artist) -> None:
    now = platform.clock.now()
    rng = demo.rng("streaming")
    tracks = list(session.scalars(select(ContentItem).where(ContentItem.artist_id == artist.id,
                                                            ContentItem.kind == "track").order_by(ContentItem.title)))
    if not tracks:
        return
    tier_rank = {t.key: t.rank for t in demo.tiers.values()}
    ranks = {t.id: t.rank for t in demo.tiers.values()}
    needed = {t.id: ranks.get(t.required_tier_id, 0) if t.visibility == "tier" else 0 for t in tracks}
    weights = {"Night Drive": 5, "Garage Demo #3": 3}
    start = now - timedelta(days=HISTORY_DAYS)
    month_start = now.astimezone(timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    sessions: list[tuple] = []  # (listener, user_id, track, started_at, fan)
    for fan in demo.population:
        begin = max(start, fan.since)
        span = (now - begin).total_seconds()
        n = round(fan.plays_per_week * span / (7 * 86400))
        times = [begin + timedelta(seconds=rng.uniform(0, span)) for _ in range(n)]
        if fan.signs_in:  # whoever signs in has listened this month too (their Wrapped is never empty)
            recent = (now - max(month_start, begin)).total_seconds()
            times += [max(month_start, begin) + timedelta(seconds=rng.uniform(0, recent)) for _ in range(8)]
        for when in sorted(times):
            options = [t for t in tracks if _playable(t, needed[t.id], tier_rank, fan, when)]
            if options:
                track = rng.choices(options, [weights.get(t.title, 8) for t in options])[0]
                sessions.append((f"u:{fan.user_id}", fan.user_id, track, when, fan))
    public = [t for t in tracks if t.visibility == "public"]
    for i in range(40):  # listeners without an account (public tracks only)
        when = start + timedelta(seconds=rng.uniform(0, HISTORY_DAYS * 86400))
        options = [t for t in public if t.publish_at <= when]
        if options:
            listener = "a:" + hashlib.sha256(f"demo-anon-{i % 25}".encode()).hexdigest()[:32]
            sessions.append((listener, None, rng.choice(options), when, None))
    _write_sessions(platform, session, sessions, rng)


def _seed_scene_plays(platform, session, demo, scene) -> None:
    """The population's listening of the scene: each member with a taste plays that taste's
    artists (a few plays of another taste too), over the same weeks; nobody has heard a debut of
    the last days yet (the AI plugin places it by its content)."""
    now = platform.clock.now()
    rng = demo.rng("streaming-scene")
    ids = [a.artist_id for a in scene]
    tracks = list(session.scalars(select(ContentItem).where(ContentItem.artist_id.in_(ids), ContentItem.kind == "track")
                                  .order_by(ContentItem.title)))
    by_taste: dict[str, list[ContentItem]] = {}
    taste_of = {a.artist_id: a.taste for a in scene}
    for t in tracks:
        if t.publish_at <= now - timedelta(days=7):
            by_taste.setdefault(taste_of[t.artist_id], []).append(t)
    start = now - timedelta(days=HISTORY_DAYS)
    sessions: list[tuple] = []
    for fan in demo.population:
        if not fan.taste or fan.taste not in by_taste:
            continue
        begin = max(start, fan.since)
        span = (now - begin).total_seconds()
        n = max(4, round(0.6 * fan.plays_per_week * span / (7 * 86400)))
        others = [t for taste, ts in by_taste.items() if taste != fan.taste for t in ts]
        for _ in range(n):
            when = begin + timedelta(seconds=rng.uniform(0, span))
            pool = others if others and rng.random() < 0.1 else by_taste[fan.taste]
            options = [t for t in pool if t.publish_at <= when]
            if options:
                sessions.append((f"u:{fan.user_id}", fan.user_id, rng.choice(options), when, fan))
    _write_sessions(platform, session, sessions, rng)


def _write_sessions(platform, session, sessions: list[tuple], rng) -> None:
    """Listening sessions (listener, user id, track, started at, fan) as the rows and events
    :mod:`.plays` writes for real ones: 80 % listened through, the count threshold and de-dupe."""
    settings = platform.plugin_settings("streaming")
    now = platform.clock.now()
    plays, events = [], []
    last_counted: dict[tuple, datetime] = {}
    dedupe = timedelta(minutes=settings.play_dedupe_minutes)
    for listener, user_id, track, when, fan in sorted(sessions, key=lambda x: x[3]):
        duration = float((track.data or {}).get("duration") or 0) or 24.0
        threshold = min(settings.play_count_seconds, duration)
        complete = rng.random() < 0.8
        listened = duration if complete else round(rng.uniform(3, duration * 0.6), 1)
        end = when + timedelta(seconds=listened)
        if end > now:
            continue
        counted_at = None
        if listened >= threshold:
            prev = last_counted.get((listener, track.id))
            if prev is None or when + timedelta(seconds=threshold) - prev > dedupe:
                counted_at = when + timedelta(seconds=threshold)
                last_counted[(listener, track.id)] = counted_at
        pid = uuid.uuid4()
        plays.append({"id": pid, "content_id": track.id, "artist_id": track.artist_id, "listener": listener,
                      "user_id": user_id, "started_at": when, "last_report_at": end, "seconds": listened,
                      "duration": duration, "counted_at": counted_at, "completed": complete})
        base = {"actor_id": user_id, "artist_id": track.artist_id, "subject_type": "content", "subject_id": str(track.id)}
        events.append({**base, "id": uuid.uuid4(), "type": "play.started", "occurred_at": when,
                       "data": {"session_id": str(pid), "listener": listener}})
        if counted_at is not None:
            events.append({**base, "id": uuid.uuid4(), "type": "play.counted", "occurred_at": counted_at,
                           "data": {"session_id": str(pid), "seconds": threshold}})
        if complete:
            events.append({**base, "id": uuid.uuid4(), "type": "play.completed", "occurred_at": end,
                           "data": {"session_id": str(pid), "seconds": listened}})
    if plays:
        session.execute(insert(Play), plays)
        session.execute(insert(DomainEvent), events)
