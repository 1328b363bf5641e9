"""Review: a share link of a track that is not released yet (scheduled; shared by the artist or an
early-access holder) does not reveal the track's title or id to whoever holds the link; once
released it resolves and counts as usual."""
from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select

from musicconnect.models import ContentItem

from musicconnect_analytics.model_store import ShareClick


def test_an_unreleased_tracks_link_is_a_404_until_its_release(mc_client, mc_platform, mc_users, mc_clock):
    p, artist = mc_platform, mc_users.artist
    tid = uuid.uuid4()
    with p.session() as s:
        s.add(ContentItem(id=tid, artist_id=artist.artist_id, kind="track", title="Secret Single", status="ready",
                          visibility="public", publish_at=p.clock.now() + timedelta(days=2), data={}))
    r = mc_client.post(f"/api/v1/analytics/tracks/{tid}/share-links", headers=artist.headers)
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    for headers in ({}, mc_users.fan.headers):
        r = mc_client.get(f"/api/v1/analytics/s/{code}", headers=headers)
        assert r.status_code == 404, r.text
        assert "Secret Single" not in r.text and str(tid) not in r.text
    assert mc_client.get(f"/api/v1/analytics/s/{code}", headers=artist.headers).status_code == 200  # may see it
    with p.read() as s:
        assert s.scalar(select(func.count()).select_from(ShareClick)) == 0
    mc_clock.advance(days=3)
    r = mc_client.get(f"/api/v1/analytics/s/{code}", params={"client_id": "browser-after-release"})
    assert r.status_code == 200 and r.json()["title"] == "Secret Single"
    with p.read() as s:
        assert s.scalar(select(func.count()).select_from(ShareClick)) == 1
