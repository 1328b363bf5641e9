"""Demo tracks for the demo artist: public, supporter-exclusive, and an early-access release."""
from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from sqlalchemy import func, select

from musicconnect import on_commit
from musicconnect.models import ContentItem

from . import media
from .models import Track, TrackVersion
from .pipeline import JOB, prefix
from .scratch import Scratch

DEMO_TRACKS = (
    ("Night Drive", "public", None, 0, 220, 0),
    ("Garage Demo #3", "tier", "supporter", 0, 330, 1),
    ("Next Single (early access)", "tier", "superfan", 3, 262, 2),
)


def seed(platform, session, demo) -> None:
    artist = demo.artist_profile
    has = session.scalar(select(func.count()).select_from(ContentItem).where(
        ContentItem.artist_id == artist.id, ContentItem.kind == "track"))
    if has:
        return
    superfan = demo.tiers.get("superfan")
    if superfan is not None and "offline_downloads" not in (superfan.perks or {}):
        superfan.perks = {**(superfan.perks or {}), "offline_downloads": 20}  # the core seeds bare tiers
        on_commit(session, lambda: platform.invalidate(("tiers", artist.id)))
    with Scratch(platform, "demo") as work:
        _seed_tracks(platform, session, demo, artist, work)


def _seed_tracks(platform, session, demo, artist, work) -> None:
    for title, visibility, tier_key, days, freq, seed_n in DEMO_TRACKS:
        src = work / f"{seed_n}.flac"
        media.generated_tone(src, 24, seed=seed_n + 1, freq=freq)
        probe = media.probe(src)
        cid = uuid.uuid4()
        tier = demo.tiers[tier_key].id if tier_key else None
        publish_at = platform.clock.now() + timedelta(days=days) if days else None
        platform.content.create(session, artist_id=artist.id, kind="track", title=title, visibility=visibility,
                                required_tier_id=tier, publish_at=publish_at, data={"duration": probe.duration},
                                status="processing", actor_id=demo.artist.id, item_id=cid)
        session.add(Track(content_id=cid, artist_id=artist.id, version=0, pending_version=1,
                          created_at=platform.clock.now()))
        key = f"{prefix(cid, 1)}/original.flac"
        platform.storage.put_file(key, src)
        session.add(TrackVersion(content_id=cid, version=1, state="processing", original_key=key,
                                 original_filename=src.name, size_bytes=src.stat().st_size, probe=probe.as_dict(),
                                 duration=probe.duration, aes_key=secrets.token_bytes(16),
                                 aes_iv="0x" + secrets.token_hex(16), artwork={}, created_at=platform.clock.now()))
        session.flush()
        platform.jobs.enqueue(JOB, session=session, subject=("content", cid), owner_id=demo.artist.id,
                              content_id=str(cid), version=1)
