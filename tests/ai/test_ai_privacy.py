"""The AI plugin's part of a person's data export and erasure: what the recommender knows about a
fan (interactions, affinity, feed cards and feedback, their row of the fitted model) is exported
and then deleted or blanked; an artist who leaves takes their drafts (and images), matches and
everyone's interactions with them; other people's rows stay."""
from __future__ import annotations

import io
import uuid
from datetime import timedelta

import numpy as np
from sqlalchemy import func, or_, select

from musicconnect.models import ContentItem, User
from musicconnect.testing import make_user
from musicconnect_ai import interactions, plugin, recommend
from musicconnect_ai.feed import FeedImpression, FeedTrackStats
from musicconnect_ai.interactions import Affinity, Interaction
from musicconnect_ai.matching import ArtistMatch, ArtistStats
from musicconnect_ai.posts import PostDraft


def _track(p, artist_id, title):
    tid = uuid.uuid4()
    with p.session() as s:
        s.add(ContentItem(id=tid, artist_id=artist_id, kind="track", title=title, status="ready",
                          visibility="public", publish_at=p.clock.now() - timedelta(days=3)))
    return tid


def _count(s, model, *conds):
    return s.scalar(select(func.count()).select_from(model).where(*conds))


def _fans_in_model(p):
    with p.read() as s:
        key = s.scalar(select(recommend.RecoModel.storage_key).where(recommend.RecoModel.status == "ok"))
    with np.load(io.BytesIO(p.storage.get_bytes(key))) as z:
        return {bytes(b).ljust(16, b"\0") for b in z["fans"]}  # numpy's S16 drops trailing NULs (as the plugin knows)


def test_fan_and_leaving_artist(mc_client, mc_platform):
    p = mc_platform  # mc_client starts it (the S3 bucket exists)
    leaving = make_user(p, "artist", artist_name="Gone")
    staying = make_user(p, "artist", artist_name="Stays")
    gone_tracks = [_track(p, leaving.artist_id, f"Gone {i}") for i in range(4)]
    kept_tracks = [_track(p, staying.artist_id, f"Stays {i}") for i in range(4)]
    fan, others = make_user(p), [make_user(p) for _ in range(4)]
    now = p.clock.now()
    with p.session() as s:
        for who in [fan, *others]:
            for t in (gone_tracks[:1] + kept_tracks[:2]) if who is fan else (gone_tracks[:2] + kept_tracks[:3]):
                artist = leaving.artist_id if t in gone_tracks else staying.artist_id
                interactions.record_track(s, who.id, t, artist, 2.0, now)
            interactions.upsert_artists(s, {(who.id, staying.artist_id): (3.0, 1, 0, now),
                                            (who.id, leaving.artist_id): (1.0, 1, 0, now)})
            for pos, t in enumerate((kept_tracks[3], gone_tracks[3])):
                s.add(FeedImpression(id=uuid.uuid4(), user_id=who.id, session_id=uuid.uuid4(), content_id=t,
                                     artist_id=leaving.artist_id if t in gone_tracks else staying.artist_id,
                                     bucket="explore", position=pos, served_at=now, outcome="skipped",
                                     liked=who is fan))
        s.add(FeedTrackStats(content_id=kept_tracks[3], completions=3, skips=5, likes=1))
        s.add(ArtistMatch(artist_id=leaving.artist_id, other_id=staying.artist_id, rank=1, shared=5, jaccard=0.9,
                          lift=2.0, reasons=[], computed_at=now))
        s.add(ArtistMatch(artist_id=staying.artist_id, other_id=leaving.artist_id, rank=1, shared=5, jaccard=0.9,
                          lift=2.0, reasons=[], computed_at=now))
        s.add(ArtistStats(artist_id=leaving.artist_id, engaged_fans=5, computed_at=now))
        s.add(ArtistStats(artist_id=staying.artist_id, engaged_fans=5, computed_at=now))
        for who in (leaving, staying):
            did = uuid.uuid4()
            p.storage.put_bytes(f"ai/posts/{did}.png", b"\x89PNG fake", "image/png")
            s.add(PostDraft(id=did, artist_id=who.artist_id, user_id=who.id, purpose="release", created_at=now,
                            facts={"title": "x"}, posts={"posts": {}}, image_key=f"ai/posts/{did}.png"))
    assert recommend.fit(p, threads=1)["status"] == "ok"
    assert fan.id.bytes in _fans_in_model(p)

    with p.session() as s:
        part = plugin.export_user_data(p, s, s.get(User, fan.id))
    assert {x["track"] for x in part.records["interactions"]} == {"Gone 0", "Stays 0", "Stays 1"}
    assert part.records["affinity"][0]["artist"] == "Stays"
    assert {(x["track"], x["outcome"], x["liked"]) for x in part.records["feed"]} == {
        ("Stays 3", "skipped", True), ("Gone 3", "skipped", True)}
    assert part.records["recommendations"] and "post_drafts" not in part.records
    with p.session() as s:
        part = plugin.export_user_data(p, s, s.get(User, leaving.id))
    (draft,) = part.records["post_drafts"]
    assert [f.storage_key for f in part.files] == [f"ai/posts/{draft['id']}.png"]

    # the fan is erased: rows gone, their row of the model blanked after the commit, others stay
    with p.session() as s:
        report = plugin.erase_user_data(p, s, s.get(User, fan.id))
    assert report.erased == {"interactions": 3, "affinity": 2, "feed_cards": 2} and not report.storage_keys
    with p.session() as s:
        for model in (Interaction, Affinity, FeedImpression):
            assert _count(s, model, model.user_id == fan.id) == 0, model
            assert _count(s, model, model.user_id == others[0].id) > 0, model
        assert s.get(FeedTrackStats, kept_tracks[3]).skips == 5  # an aggregate naming nobody
    fans = _fans_in_model(p)
    assert fan.id.bytes not in fans and others[0].id.bytes in fans
    with p.session() as s:
        assert plugin.export_user_data(p, s, s.get(User, fan.id)) is None

    # the artist leaves
    stored = set(p.storage.list("ai/posts/"))
    with p.session() as s:
        report = plugin.erase_user_data(p, s, s.get(User, leaving.id))
    assert len(report.storage_keys) == 1 and report.storage_keys[0] in stored
    assert report.erased["artist_matches"] == 2 and report.erased["interactions_with_them"] == 8
    with p.session() as s:
        a = leaving.artist_id
        assert _count(s, ArtistMatch, or_(ArtistMatch.artist_id == a, ArtistMatch.other_id == a)) == 0
        for model in (ArtistStats, PostDraft, Interaction, Affinity, FeedImpression):
            assert _count(s, model, model.artist_id == a) == 0, model
            assert _count(s, model, model.artist_id == staying.artist_id) > 0, model
        assert _count(s, PostDraft, PostDraft.user_id == leaving.id) == 0
