"""The live plugin alone (mc_plugins), with helpers: ready tracks of an artist, tiers, a party."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from musicconnect.models import ContentItem, Tier


@pytest.fixture
def mc_plugins():
    return ["live"]


def add_track(p, artist_id, title="Song", *, duration=120.0, status="ready", tier_id=None) -> uuid.UUID:
    """A track content item as the streaming plugin leaves it once processed (no plugin needed)."""
    with p.session() as s:
        item = ContentItem(id=uuid.uuid4(), artist_id=artist_id, kind="track", title=title, status=status,
                           visibility="tier" if tier_id else "public", required_tier_id=tier_id,
                           publish_at=p.clock.now() - timedelta(days=1), data={"duration": duration})
        s.add(item)
    return item.id


def tiers(p, artist_id) -> dict[str, uuid.UUID]:
    with p.session() as s:
        return {t.key: t.id for t in s.scalars(select(Tier).where(Tier.artist_id == artist_id))}


def grant(p, user_id, artist_id, tier_id) -> None:
    with p.session() as s:
        p.entitlements.grant(s, user_id=user_id, artist_id=artist_id, tier_id=tier_id, source="test",
                             source_ref=f"{user_id}:{tier_id}")


def schedule(client, artist, tracks, *, starts_in=timedelta(days=2), now=None, **kw) -> dict:
    from datetime import datetime, timezone

    now = now or datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
    body = {"title": "Premiere", "starts_at": (now + starts_in).isoformat(), "playlist": [str(t) for t in tracks], **kw}
    r = client.post("/api/v1/live/parties", json=body, headers=artist.headers)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
def live(mc_client, mc_users, mc_platform, mc_clock):
    """client, users, platform, clock, and two ready tracks of the artist (120 s and 90 s)."""
    class Env:
        client, users, platform, clock = mc_client, mc_users, mc_platform, mc_clock
        artist, fan = mc_users.artist, mc_users.fan
        tracks = [add_track(mc_platform, mc_users.artist.artist_id, "One", duration=120.0),
                  add_track(mc_platform, mc_users.artist.artist_id, "Two", duration=90.0)]

        def start(self, party_id):
            """Move the clock to the party's start and run the sweep job's function."""
            from musicconnect_live.parties import sweep

            r = self.client.get(f"/api/v1/live/parties/{party_id}", headers=self.artist.headers).json()
            from datetime import datetime

            self.clock.set(datetime.fromisoformat(r["starts_at"].replace("Z", "+00:00")))
            for u in (self.artist, self.fan):
                u.renew(self.platform)
            sweep(self.platform)

    return Env()
