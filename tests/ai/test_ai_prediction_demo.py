"""The AI plugin's demo data: the demo artist's newest track has its first hours of listening (a
prediction to show) and a post draft with its image; seeding twice adds nothing."""
from __future__ import annotations

import io

from PIL import Image
from sqlalchemy import func, select

from musicconnect.models import DomainEvent, User
from musicconnect.seed import seed_demo

from musicconnect_ai import demo as ai_demo
from musicconnect_ai.posts import PostDraft


def test_demo_has_a_prediction_and_a_post_draft(mc_platform, mc_client):
    p = mc_platform
    demo = seed_demo(p)
    with p.session() as s:
        item = ai_demo.newest_track(s, demo.artist_profile.id, p.clock.now())
        assert item is not None
        early = ai_demo.early_plays(s, item)
        events = s.scalar(select(func.count()).select_from(DomainEvent))
        token = p.tokens.issue_access(s.get(User, demo.artist.id))
    assert early >= ai_demo.EARLY_SESSIONS // 2
    seed_demo(p)  # idempotent
    with p.session() as s:
        assert s.scalar(select(func.count()).select_from(DomainEvent)) == events
        drafts = list(s.scalars(select(PostDraft).where(PostDraft.artist_id == demo.artist_profile.id)))
    assert len(drafts) == 1 and drafts[0].subject_id == str(item.id)
    h = {"Authorization": f"Bearer {token}"}
    pred = mc_client.get(f"/api/v1/ai/tracks/{item.id}/prediction", headers=h).json()
    assert pred["status"] in ("estimated", "partial") and pred["predicted_plays_30d"] >= early
    assert pred["early"]["plays"] == early and pred["early"]["likes"] >= 1
    draft = mc_client.get(f"/api/v1/ai/posts/drafts/{drafts[0].id}", headers=h).json()
    assert {post["network"] for post in draft["posts"]} == {"x", "bluesky", "mastodon", "instagram"}
    png = mc_client.get(draft["image_url"], headers=h)
    with Image.open(io.BytesIO(png.content)) as im:
        assert im.size == (1080, 1080)
